import type { AuditEvent } from '../../audit/audit-event.js';
import { DomicileError } from '../../errors/domicile-error.js';
import type { Platform } from '../../platform/platform.js';
import { currentHome, routeToHome } from '../../platform/route-to-home.js';
import type { RegionClient } from '../../region/region-client.js';
import { newId } from '../../shared/new-id.js';
import { spendDiscovery } from './contact-discovery.js';

/**
 * Cloud Messaging: a message rests twice, each copy in its owner's home region for the
 * messaging service: the sender's in their outbox (`messages/out-<id>`), the recipient's in
 * their inbox (`messages/in-<id>`). A message to a user homed in another region is sealed in
 * that region under its keys, and the crossing is in both regions' audit logs; so is a read
 * receipt going back.
 */

const service = 'messaging';
const collection = 'messages';

export interface Recipient {
  userId?: string | undefined;
  /** E.164, found through the blind index like a login. */
  phone?: string | undefined;
}

export interface MessageView {
  id: string;
  box: 'inbox' | 'outbox';
  /** The other party's user id. */
  with: string;
  text: string;
  sentAt: number;
  deliveredAt: number | null;
  readAt: number | null;
}

interface StoredMessage {
  id: string;
  from: string;
  to: string;
  text: string;
  sentAt: number;
  deliveredAt: number | null;
  readAt: number | null;
}

async function resolveRecipient(platform: Platform, senderId: string, to: Recipient): Promise<string> {
  if ((to.userId === undefined) === (to.phone === undefined))
    throw new DomicileError('BAD_REQUEST', 'name the recipient by exactly one of to.userId or to.phone');
  if (to.phone !== undefined) {
    // Whether a number's owner uses the service is what contact discovery answers: the same
    // consent and the same allowance, checked before the number is looked up.
    await spendDiscovery(platform, senderId, 1, 'a message to a phone number');
    // A login belongs to a user that exists: the directory drops a user's logins with them.
    const found = await platform.directory.findByLogin(platform.blindIndex.phone(to.phone));
    if (!found) throw new DomicileError('NOT_FOUND', 'nobody with this phone number uses the service');
    return found;
  }
  if (!(await platform.directory.getUser(to.userId!))) throw new DomicileError('NOT_FOUND', `no user ${to.userId}`);
  return to.userId!;
}

type Crossing = Omit<Extract<AuditEvent, { type: 'delivery' }>, 'type' | 'role'>;

/**
 * Audits a crossing in its source region before `write` runs, and in its destination (the
 * region `write` is given, where the data rests) after. Event ids name the destination, so a
 * write re-routed to another region (its user was cut over meanwhile) records that crossing too,
 * and a retry records nothing twice.
 */
async function crossTo(
  platform: Platform,
  client: RegionClient,
  crossing: Omit<Crossing, 'to'>,
  write: () => Promise<void>,
): Promise<{ from: string; to: string } | null> {
  const to = client.regionId;
  if (crossing.from === to) {
    await write();
    return null;
  }
  const event = { type: 'delivery' as const, ...crossing, to };
  const id = `delivery:${crossing.kind}:${crossing.message}:${to}`;
  await platform
    .region(crossing.from)
    .recordEvents({ events: [{ id: `${id}:source`, event: { ...event, role: 'source' } }] });
  await write();
  await client.recordEvents({ events: [{ id: `${id}:destination`, event: { ...event, role: 'destination' } }] });
  return { from: crossing.from, to };
}

/**
 * Sends a message: the recipient's copy first (so nothing says delivered that is not), then the
 * sender's, marked delivered. A crossing between the two homes is audited in both regions, for
 * the region the recipient's copy is actually written in.
 */
export async function sendMessage(
  platform: Platform,
  senderId: string,
  to: Recipient,
  text: string,
): Promise<MessageView & { crossBorder: { from: string; to: string } | null }> {
  const recipientId = await resolveRecipient(platform, senderId, to);
  // Not the cached home: after a move it may name the region the sender left, where the
  // crossing would be audited (or, with the recipient there, not audited at all).
  const fromRegion = (await currentHome(platform, senderId, service)).region;
  const id = newId('msg');
  const sentAt = Date.now();
  const message: StoredMessage = {
    id,
    from: senderId,
    to: recipientId,
    text,
    sentAt,
    deliveredAt: sentAt,
    readAt: null,
  };
  const crossBorder = await routeToHome(platform, recipientId, service, (client, ref) =>
    crossTo(
      platform,
      client,
      {
        kind: 'message',
        message: id,
        service,
        from: fromRegion,
        sender: senderId,
        recipient: recipientId,
        bytes: Buffer.byteLength(text),
      },
      async () => {
        await client.putRecord({ ...ref, collection, key: `in-${id}`, value: message, ifVersion: 0 });
      },
    ),
  );
  await routeToHome(platform, senderId, service, (client, ref) =>
    client.putRecord({ ...ref, collection, key: `out-${id}`, value: message, ifVersion: 0 }),
  );
  return { ...view(message, 'outbox'), crossBorder };
}

function view(m: StoredMessage, box: 'inbox' | 'outbox'): MessageView {
  return {
    id: m.id,
    box,
    with: box === 'inbox' ? m.from : m.to,
    text: m.text,
    sentAt: m.sentAt,
    deliveredAt: m.deliveredAt,
    readAt: m.readAt,
  };
}

/** A stored message, or undefined for a record of another shape (written before the records API refused these keys). */
function asMessage(value: unknown): StoredMessage | undefined {
  const m = value as Partial<StoredMessage> | null;
  return m !== null &&
    typeof m === 'object' &&
    typeof m.id === 'string' &&
    typeof m.from === 'string' &&
    typeof m.to === 'string' &&
    typeof m.text === 'string' &&
    typeof m.sentAt === 'number'
    ? (m as StoredMessage)
    : undefined;
}

/** A user's inbox or outbox, oldest first. */
export async function listMessages(
  platform: Platform,
  userId: string,
  box: 'inbox' | 'outbox',
): Promise<MessageView[]> {
  const prefix = box === 'inbox' ? 'in-' : 'out-';
  const records = await routeToHome(platform, userId, service, (client, ref) =>
    client.listRecords({ ...ref, collection }),
  );
  return records
    .filter((r) => r.key.startsWith(prefix))
    .flatMap((r) => {
      const m = asMessage(r.value);
      return m ? [view(m, box)] : [];
    })
    .sort((a, b) => a.sentAt - b.sentAt);
}

/** The recipient reads a message: their copy says when, and a read receipt goes to the sender's copy. */
export async function markRead(platform: Platform, userId: string, messageId: string): Promise<MessageView> {
  // Read and marked in one visit to the reader's home, which is where the receipt crosses from.
  const { message, read, fromRegion } = await routeToHome(platform, userId, service, async (client, ref) => {
    const record = await client.getRecord({ ...ref, collection, key: `in-${messageId}` });
    const found = asMessage(record?.value);
    if (!record || !found) throw new DomicileError('NOT_FOUND', `no message ${messageId} in your inbox`);
    if (found.readAt !== null) return { message: found, read: undefined, fromRegion: client.regionId };
    const marked = { ...found, readAt: Date.now() };
    await client.putRecord({ ...ref, collection, key: `in-${messageId}`, value: marked, ifVersion: record.version });
    return { message: found, read: marked, fromRegion: client.regionId };
  });
  if (!read) return view(message, 'inbox');
  await routeToHome(platform, message.from, service, async (client, ref) => {
    const sent = await client.getRecord({ ...ref, collection, key: `out-${messageId}` });
    const copy = asMessage(sent?.value);
    // The sender may have deleted their copy: the receipt then has nowhere to go.
    if (!sent || !copy) return;
    await crossTo(
      platform,
      client,
      {
        kind: 'receipt',
        message: messageId,
        service,
        from: fromRegion,
        sender: message.from,
        recipient: userId,
        bytes: 0,
      },
      async () => {
        await client.putRecord({
          ...ref,
          collection,
          key: `out-${messageId}`,
          value: { ...copy, readAt: read.readAt },
          ifVersion: sent.version,
        });
      },
    );
  });
  return view(read, 'inbox');
}
