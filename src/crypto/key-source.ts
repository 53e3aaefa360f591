/**
 * A region's key-encryption key (KEK), behind an interface so a KMS can replace the keyring
 * file later. It wraps and unwraps data keys; the KEK itself never leaves the source.
 * Synchronous for now: the keyring is in memory. A KMS source will need an async variant,
 * and the node's key cache keeps those calls off the hot path.
 */
export interface KeySource {
  /** Which KEK wraps new keys (recorded beside every wrapped key, for rotation). */
  readonly kekId: string;
  /** Seals a data key; `aad` binds it to where it belongs (region, user). */
  wrap(dataKey: Buffer, aad: Buffer): Buffer;
  /** Opens a wrapped data key; DomicileError INTEGRITY if it was altered or moved. */
  unwrap(wrapped: Buffer, aad: Buffer): Buffer;
}
