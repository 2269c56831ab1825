// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first (docs/design.md, "Layers"). A folder may import from the
 * folders of lower layers and of its own layer (the folder-cycle check in `npm run lint`
 * refuses two folders importing each other), never from a higher layer.
 */
const LAYERS = [
  ['common'],
  ['crypto'],
  ['config'],
  ['database', 'metrics'],
  ['keys'],
  ['providers'],
  ['callers', 'audit'],
  ['connectors'],
  ['rotation'],
  ['connect'],
  ['key-lifecycle'],
  ['revocation'],
  ['admin', 'health'],
  ['cli'],
];

/** Folders of src/ that a folder may not import from: every folder of a higher layer. */
const FORBIDDEN_IMPORTS = Object.fromEntries(
  LAYERS.flatMap((layer, level) => layer.map((folder) => [folder, LAYERS.slice(level + 1).flat()])),
);

/** Example modules extend the service from outside: they import modules and services, never internals. */
const EXAMPLE_IMPORTS = ['repository', 'entity', 'storage', 'refresher'].map((role) => ({
  group: [`../src/**/*.${role}`, `../src/**/*-${role}`, `../../src/**/*.${role}`, `../../src/**/*-${role}`],
  message: 'examples/ import modules and services only',
}));

const layerRules = Object.entries(FORBIDDEN_IMPORTS).map(([folder, forbidden]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((other) => ({
          group: [`../${other}/*`, `../../${other}/*`, `../../../${other}/*`],
          message: `src/${folder} may not import from src/${other} (see "Layers" in docs/design.md)`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'data/**', 'coverage/**', 'node_modules/**', 'bench/max-rss.preload.js'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { module: 'writable', require: 'readonly', process: 'readonly', __dirname: 'readonly' },
    },
  },
  ...layerRules,
  {
    files: ['examples/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: EXAMPLE_IMPORTS }] },
  },
  prettier,
);
