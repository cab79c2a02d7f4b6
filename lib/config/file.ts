/**
 * A configuration file read for people: one message that names the file and every bad path, or
 * for broken JSON the file, line and column, and never a stack trace. `cdk synth` (infra/app.ts)
 * and anything else that reads a configuration file from disk use it.
 */
import { readFileSync } from 'node:fs';
import { ValidationError } from '../errors.js';
import { parseConfig, type CertrotateConfig } from './index.js';

/** The file could not be read, is not JSON, or is not a valid configuration; the message says which and where. */
export class ConfigFileError extends ValidationError {
  override name = 'ConfigFileError';
}

/** 1-based line and column of a character offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines.at(-1) ?? '').length + 1 };
}

/** Where JSON.parse stopped, from its message (`at position N`), or the end for a truncated file. */
function syntaxErrorAt(text: string, message: string): { line: number; column: number } {
  const position = /at position (\d+)/.exec(message)?.[1];
  return lineAndColumn(text, position === undefined ? text.length : Number(position));
}

/** The file's JSON document (as written, for copying on) and the configuration it validates to. */
export function readConfigFile(path: string, shownAs = path): { document: unknown; config: CertrotateConfig } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(`${shownAs}: the configuration file cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? String(error))})`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const { line, column } = syntaxErrorAt(text, message);
    const reason = message.replace(/ in JSON at position \d+.*$/, '').replace(/^Unexpected end of JSON input$/, 'the file ends before the JSON does');
    throw new ConfigFileError(`${shownAs}:${line}:${column}: not valid JSON: ${reason}`);
  }
  try {
    return { document, config: parseConfig(document) };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const problems = error.problems ?? [error.message];
    throw new ConfigFileError(`${shownAs}: the configuration is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`);
  }
}
