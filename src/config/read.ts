// Reading settings (config/settings.ts): every KILN_* variable kiln reads goes through
// `setting()`. The variable is read on each call, so tests may change it at run time, but its
// text is parsed only when it differs from the last text seen: a hot path pays one lookup.

import { BadValue } from './parsers.js';
import { SETTINGS, type SettingName, type SettingSpec, type SettingValue } from './settings.js';
import { warnOnce } from './warn.js';

/** A variable with a bad value (for settings whose `invalid` is 'error'). */
export class SettingError extends Error {
  override name = 'SettingError';
}

const parsed = new Map<SettingName, { raw: string; value: unknown }>();

/**
 * The value of `name` in `env` (process.env unless a test passes its own): the default when
 * unset or blank; a bad value throws a SettingError naming the variable, or warns once and
 * gives the default, as the setting says.
 */
export function setting<K extends SettingName>(name: K, env: NodeJS.ProcessEnv = process.env): SettingValue<K> {
  const spec = SETTINGS[name] as SettingSpec<SettingValue<K>>;
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return spec.default;
  const last = parsed.get(name);
  if (last !== undefined && last.raw === raw) return last.value as SettingValue<K>;
  let value: SettingValue<K>;
  try {
    value = spec.parse(raw, (msg) => warnOnce(`setting:${name}=${raw}:${msg}`, `${name}: ${msg}`));
  } catch (e) {
    if (!(e instanceof BadValue)) throw e;
    const what = `${name}=${JSON.stringify(raw)}: ${e.message}`;
    if (spec.invalid === 'error') throw new SettingError(what);
    warnOnce(`setting:${name}=${raw}`, `${what}; using the default (${spec.defaultDoc ?? JSON.stringify(spec.default)})`);
    value = spec.default;
  }
  parsed.set(name, { raw, value });
  return value;
}

/** Every setting's name, in the table's order. */
export function settingNames(): SettingName[] {
  return Object.keys(SETTINGS) as SettingName[];
}

/**
 * The settings that change `backend`'s generated code and are not at their default now, by
 * name: part of its graph keys, so one cache directory keeps an entry per setting. (Kernel
 * keys need nothing more: each such setting shows in the kernel's source, its metadata, or the
 * compiler identity, which kernel keys cover.)
 */
export function codeSettings(backend: 'c' | 'cuda', env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of settingNames()) {
    const spec = SETTINGS[name] as SettingSpec<unknown>;
    if (spec.changesCode !== backend) continue;
    const value = setting(name, env);
    if (JSON.stringify(value) !== JSON.stringify(spec.default)) out[name] = value;
  }
  return out;
}
