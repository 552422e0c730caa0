/**
 * The lock: the exact packages a solve chose (URL, sha256, ...). Owned by the creator; the
 * creator rebuilds from it without solving, and it keys the tarball cache.
 * TODO(creator): define the zod schema here.
 */
export {};
