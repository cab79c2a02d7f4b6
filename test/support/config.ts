import { parseConfig } from '../../lib/config/index.js';
import { ValidationError } from '../../lib/errors.js';

/** The problem lines of a refused configuration document, or [] when it is accepted. */
export function problemsOf(document: Record<string, unknown>): string[] {
  try {
    parseConfig(document);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.message.split('\n').slice(1).map((line) => line.replace(/^ {2}- /, ''));
  }
}
