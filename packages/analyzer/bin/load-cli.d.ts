/** Types of load-cli.js (plain JavaScript: it runs before any compiled code is chosen). */
export declare function bundleIsCurrent(dist?: URL): boolean;
export declare function main(program: string): Promise<never>;
