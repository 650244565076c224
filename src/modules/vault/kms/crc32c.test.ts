import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c';

// The fake KMS server uses this same function, so its tests cannot catch a wrong CRC32C: these
// known answers (RFC 3720 appendix B.4, and the usual check value) can.
describe('crc32c', () => {
  it('matches the published check value and the iSCSI test vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });
});
