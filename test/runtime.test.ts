import { describe, expect, it } from 'vitest';

describe('runtime', () => {
  it('runs on Node 22, the Lambda runtime certrotate targets', () => {
    expect(process.versions.node.split('.')[0]).toBe('22');
  });
});
