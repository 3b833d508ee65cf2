// ESLint's flat configuration: the report page's script (package data,
// chaostracing/_viewers/report.js) is checked as what it is, a classic
// browser script, with ESLint's recommended rules; the tests' Node scripts
// (tests/js/) as Node modules. `make lint-js` runs it, and so does
// tests/test_lint_js.py.
"use strict";

const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  js.configs.recommended,
  {
    files: ["chaostracing/**/*.js"],
    languageOptions: {
      ecmaVersion: 2015,
      sourceType: "script",
      globals: globals.browser,
    },
  },
  {
    files: ["eslint.config.js", "tests/js/*.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
];
