/**
 * Compiles one virtual user file in a program of its own and returns its diagnostics: what an
 * app's compiler sees, without the declarations the repo's own test programs merge in.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const source = (pkg: string, file = 'index.ts'): string[] => [`${root}packages/${pkg}/src/${file}`];

/** `dir` places the virtual file (module resolution starts there, e.g. for `express`). */
export function userDiagnostics(dir: string, text: string): string[] {
  const userFile = `${dir}virtual-user-app.ts`;
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    typeRoots: [`${root}node_modules/@types`],
    paths: {
      '@ssekit/core': source('core'),
      '@ssekit/core/store': source('core', 'store/index.ts'),
      '@ssekit/core/adapter': source('core', 'session/index.ts'),
      '@ssekit/express': source('express'),
      '@ssekit/fastify': source('fastify'),
    },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === userFile
      ? ts.createSourceFile(name, text, version)
      : getSourceFile(name, version, ...rest);
  host.fileExists = (name) => name === userFile || fileExists(name);
  host.readFile = (name) => (name === userFile ? text : readFile(name));
  const program = ts.createProgram([userFile], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === userFile)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}
