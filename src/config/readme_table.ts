// README.md's table of options and variables, generated from config/settings.ts: written by
// scripts/readme_settings.mjs between the markers below, checked by test/config_settings.test.ts
// (a setting added without documentation, or a README edited by hand, fails it). Not part of
// the library: nothing kiln runs imports this.

import { OPTION_ONLY_DOCS, SETTINGS, type Section, type SettingSpec } from './settings.js';

export const README_BEGIN = '<!-- settings:begin (generated from src/config/settings.ts by scripts/readme_settings.mjs: edit there) -->';
export const README_END = '<!-- settings:end -->';

const SECTIONS: Record<Section, string> = {
  options: 'Options and variables (an option given to `compile()` or `loadOnnx()` wins over its variable)',
  tuning: 'Tuning, for A/B runs',
  toolchain: 'Compilers and libraries',
  debugging: 'Debugging',
  testing: "Testing (kiln's own tests set these)",
  internal: 'Internal (set by kiln for its compile workers)',
};

/** A cell's text with the characters a Markdown table cell cannot hold escaped. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultText(s: SettingSpec<unknown>): string {
  if (s.defaultDoc !== undefined) return s.defaultDoc;
  const d = s.default;
  if (typeof d === 'boolean') return d ? '`1`' : '`0`';
  return `\`${String(d)}\``;
}

function codeText(s: SettingSpec<unknown>): string {
  return s.changesCode === undefined ? '' : s.changesCode === 'c' ? 'CPU' : 'CUDA';
}

function valueText(s: SettingSpec<unknown>): string {
  return s.invalid === 'warn' ? `${s.values} (a bad value: a warning)` : s.values;
}

/** The generated Markdown, markers excluded. */
export function settingsMarkdown(): string {
  const out: string[] = [
    '"Changes code": the setting changes the code generated for that backend (which kernels a plan has, their source or binaries),',
    "so its value is part of the backend's graph cache keys: one cache directory keeps an entry for each setting.",
  ];
  for (const section of Object.keys(SECTIONS) as Section[]) {
    // Only the first section has options; the others leave that column out.
    const withOption = section === 'options';
    out.push('', `**${SECTIONS[section]}**`, '');
    out.push(`|${withOption ? ' option |' : ''} variable | value | default | changes code | meaning |`, `|${withOption ? '---|' : ''}---|---|---|---|---|`);
    for (const [name, s] of Object.entries(SETTINGS) as [string, SettingSpec<unknown>][]) {
      if (s.section !== section) continue;
      const option = withOption ? ` ${s.option === undefined ? '' : `\`${s.option}\``} |` : '';
      out.push(`|${option} \`${name}\` | ${cell(valueText(s))} | ${cell(defaultText(s))} | ${codeText(s)} | ${cell(s.doc)} |`);
    }
    if (withOption) for (const [option, doc] of Object.entries(OPTION_ONLY_DOCS)) out.push(`| \`${option}\` | | | | | ${cell(doc)} |`);
  }
  return out.join('\n');
}

/** `readme` with the text between the markers replaced by the generated table. */
export function withSettingsTable(readme: string): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${README_BEGIN} … ${README_END} markers`);
  return `${readme.slice(0, begin + README_BEGIN.length)}\n${settingsMarkdown()}\n${readme.slice(end)}`;
}
