// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** Folders of src/ that a folder may not import from: the layers of docs/design.md, checked. */
const FORBIDDEN_IMPORTS = {
  common: [
    'connect',
    'config',
    'crypto',
    'connectors',
    'providers',
    'rotation',
    'admin',
    'audit',
    'health',
    'cli',
    'database',
    'metrics',
    'keys',
  ],
  crypto: [
    'connect',
    'config',
    'connectors',
    'providers',
    'rotation',
    'admin',
    'audit',
    'health',
    'cli',
    'database',
    'metrics',
    'keys',
  ],
  config: [
    'connect',
    'connectors',
    'providers',
    'rotation',
    'admin',
    'audit',
    'health',
    'cli',
    'database',
    'metrics',
    'keys',
  ],
  metrics: [
    'connect',
    'crypto',
    'connectors',
    'providers',
    'rotation',
    'admin',
    'audit',
    'health',
    'cli',
    'database',
    'keys',
  ],
  database: ['connect', 'connectors', 'providers', 'rotation', 'admin', 'health', 'cli', 'metrics', 'keys'],
  providers: ['connect', 'connectors', 'rotation', 'admin', 'audit', 'cli', 'keys'],
  connectors: ['connect', 'rotation', 'admin', 'audit', 'cli', 'keys'],
  keys: ['rotation', 'admin', 'audit', 'health', 'cli'],
  rotation: ['admin', 'cli', 'keys'],
  audit: ['connect', 'connectors', 'providers', 'rotation', 'admin', 'cli', 'keys'],
  admin: ['cli'],
  // The key inventory and retirement (keys/, rotation/) count verifiers through ConnectSessionsModule.
  connect: ['rotation', 'admin', 'cli', 'keys'],
  health: ['connect', 'connectors', 'providers', 'rotation', 'admin', 'cli'],
};

/** Example modules extend the service from outside: they import modules and services, never internals. */
const EXAMPLE_IMPORTS = ['repository', 'entity', 'storage', 'refresher'].map((role) => ({
  group: [`../src/**/*.${role}`, `../src/**/*-${role}`, `../../src/**/*.${role}`, `../../src/**/*-${role}`],
  message: 'examples/ import modules and services only',
}));

const layerRules = Object.entries(FORBIDDEN_IMPORTS).map(([folder, forbidden]) => ({
  files: [`src/${folder}/**/*.ts`],
  // The entity list names every module's entities: the one place the data source meets them.
  ignores: ['src/database/entities.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((other) => ({
          group: [`../${other}/*`, `../../${other}/*`],
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
