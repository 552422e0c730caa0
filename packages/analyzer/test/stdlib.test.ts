import { stdlibModules, supportedPythonVersions } from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';

describe('standard library per Python version', () => {
  it('covers 3.8 to 3.14', () => {
    expect(supportedPythonVersions()).toEqual([
      '3.8',
      '3.9',
      '3.10',
      '3.11',
      '3.12',
      '3.13',
      '3.14',
    ]);
  });

  it.each([
    ['distutils', ['3.8', '3.11'], ['3.12', '3.14']],
    ['imp', ['3.11'], ['3.12']],
    ['asyncore', ['3.11'], ['3.12']],
    ['cgi', ['3.12'], ['3.13']],
    ['telnetlib', ['3.12'], ['3.13', '3.14']],
    ['lib2to3', ['3.12'], ['3.13']],
    ['tomllib', ['3.11', '3.14'], ['3.10']],
    ['graphlib', ['3.9'], ['3.8']],
    ['zoneinfo', ['3.9'], ['3.8']],
    ['annotationlib', ['3.14'], ['3.13']],
    ['os', ['3.8', '3.14'], []],
  ])('%s', (module, present, absent) => {
    for (const v of present) expect(stdlibModules(v).has(module), `${module} in ${v}`).toBe(true);
    for (const v of absent)
      expect(stdlibModules(v).has(module), `${module} not in ${v}`).toBe(false);
  });

  it('accepts X.Y.Z and rejects versions it has no data for', () => {
    expect(stdlibModules('3.11.7').has('json')).toBe(true);
    expect(() => stdlibModules('3.7')).toThrow(/unsupported target Python version 3\.7/);
    expect(() => stdlibModules('3.15')).toThrow(/unsupported/);
  });
});
