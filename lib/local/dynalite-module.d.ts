/**
 * The slice of dynalite (untyped CommonJS) that lib/local/dynalite.ts uses. Named
 * `dynalite-module.d.ts` on purpose: a `dynalite.d.ts` beside `dynalite.ts` is treated by tsc as
 * that file's own declaration output and silently ignored.
 */
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** Milliseconds a table stays CREATING / DELETING / UPDATING (default 500). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    /** LevelDB directory; in memory when absent. */
    path?: string;
    maxItemSizeKb?: number;
    verbose?: boolean;
  }

  export default function dynalite(options?: DynaliteOptions): Server;
}
