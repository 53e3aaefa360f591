import { describe, expect, it } from 'vitest';
import { clientAddressKey } from '../../src/gateway/client-address-key.js';

describe('clientAddressKey', () => {
  it('keys an IPv6 address by its /64, however it is written', () => {
    expect(clientAddressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientAddressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientAddressKey('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(clientAddressKey('::1')).toBe('0:0:0:0::/64');
    expect(clientAddressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientAddressKey('2001:db8:1:3::1')).not.toBe(clientAddressKey('2001:db8:1:2::1'));
  });

  it('keys IPv4 and IPv4-mapped IPv6 alike', () => {
    expect(clientAddressKey('10.12.0.1')).toBe('10.12.0.1');
    expect(clientAddressKey('::ffff:10.12.0.1')).toBe('10.12.0.1');
    expect(clientAddressKey('::ffff:a0c:1')).toBe('10.12.0.1');
    expect(clientAddressKey('::10.12.0.1')).toBe('0:0:0:0::/64');
  });
});
