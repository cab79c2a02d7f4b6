/**
 * The handlers' Powertools logger and metrics for the sandbox: the same tools the functions use,
 * writing their JSON lines to a log file in the sandbox directory instead of stdout (which is the
 * sandbox's own, one line per event for the operator).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Console } from 'node:console';
import { createTools, type HandlerTools } from '../../handlers/runtime.js';

export function fileTools(path: string): { tools: HandlerTools; close: () => Promise<void> } {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  const tools = createTools();
  const console = new Console({ stdout: stream, stderr: stream });
  // Powertools writes through an instance `console` of its own (its documented POWERTOOLS_DEV switch
  // is the global console): pointing it at the file keeps every line, in its usual format.
  Object.assign(tools.logger, { console });
  Object.assign(tools.metrics, { console });
  return { tools, close: () => new Promise<void>((resolve) => stream.end(resolve)) };
}
