/**
 * Prefix relocation rules (text and binary placeholder replacement), used by the creator's
 * linker and by the runner. Kept free of heavy dependencies because every worker loads it.
 * TODO(runner): implement.
 */
export {};
