/**
 * Jest runs the model tests in node: the model has no DOM and takes its API
 * object by injection, so no JupyterLab package needs transforming. Sections
 * are rendered to static markup (react-dom/server), which needs no DOM either.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': [
      'ts-jest',
      {
        tsconfig: {
          module: 'commonjs',
          target: 'ES2018',
          strict: true,
          esModuleInterop: true,
          resolveJsonModule: true,
          jsx: 'react',
          types: ['jest'],
          lib: ['DOM', 'ES2018', 'ES2020.Promise']
        }
      }
    ]
  }
};
