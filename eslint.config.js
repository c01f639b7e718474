// ESLint flat config (ESLint 9 + typescript-eslint 8) for the whole monorepo.
// Syntax-level rules only (no type information) so `npm run lint` stays fast;
// `tsc -b` (strict, noUncheckedIndexedAccess) does the type checks.
// Hygiene rules (unused code, prefer-const) warn: they never hide a bug that
// tsc or the tests would not find, and must not block work in progress.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', '**/coverage/**', '**/.turbo/**', '**/*.tsbuildinfo', 'packages/proto/src/gen/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'warn',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      'prefer-const': 'warn',
      // Non-breaking spaces inside user-facing strings and templates are intended (e.g. "21.5\u00a0°C").
      'no-irregular-whitespace': ['error', { skipStrings: true, skipTemplates: true, skipComments: true, skipRegExps: true }],
    },
  },
  {
    // The dashboard's static assets run in the browser.
    files: ['services/api/src/dashboard/assets/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
