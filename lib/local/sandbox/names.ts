/** The sandbox's function names: the local Lambda endpoint serves the three handlers under these. */
export const SANDBOX_FUNCTIONS = { command: 'certrotate-command', scan: 'certrotate-scan', advance: 'certrotate-advance' } as const;
