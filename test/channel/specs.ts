/** Specs that install every installable package of the test channel (all but needs-missing). */
export const INSTALLABLE_SPECS = [
  'python 3.11.*',
  'hello-cli',
  'chain-top',
  'prefix-echo',
  'text-config',
  'softlink-demo',
  'activate-demo',
  'generic-data',
  'legacy-oldstyle',
];
