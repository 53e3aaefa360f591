import { DomicileError } from '../../errors/domicile-error.js';
import type { AuditEvent } from '../../audit/audit-event.js';
import type { Platform } from '../../platform/platform.js';
import { routeToHome } from '../../platform/route-to-home.js';
import { newId } from '../../shared/new-id.js';

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

async function resolveRecipient(platform: Platform, to: Recipient): Promise<string> {
  if ((to.userId === undefined) === (to.phone === undefined)) throw new DomicileError('BAD_REQUEST', 'name the recipient by exactly one of to.userId or to.phone');
  const userId = to.userId ?? (await platform.directory.findByLogin(platform.blindIndex.phone(to.phone!)));
  if (!userId || !(await platform.directory.getUser(userId))) {
    throw new DomicileError('NOT_FOUND', to.phone === undefined ? `no user ${to.userId}` : 'nobody with this phone number uses the service');
  }
  return userId;
}

async function homeOf(platform: Platform, userId: string): Promise<string> {
  const home = await platform.directory.home(userId, service);
  if (!home) throw new DomicileError('NOT_FOUND', `user ${userId} has no home for ${service}`);
  return home.region;
}

/** Records a crossing in both regions' logs (event ids make a retry record nothing twice). */
async function auditCrossing(platform: Platform, event: Omit<Extract<AuditEvent, { type: 'delivery' }>, 'role'>): Promise<void> {
  const id = `delivery:${event.kind}:${event.message}`;
  await platform.region(event.from).recordEvents({ events: [{ id: `${id}:source`, event: { ...event, role: 'source' } }] });
  await platform.region(event.to).recordEvents({ events: [{ id: `${id}:destination`, event: { ...event, role: 'destination' } }] });
}

/**
 * Sends a message: the recipient's copy first (so nothing says delivered that is not), then the
 * sender's, marked delivered. A crossing is audited in the source before the data crosses,
 * and in the destination once it rests there.
 */
export async function sendMessage(platform: Platform, senderId: string, to: Recipient, text: string): Promise<MessageView & { crossBorder: { from: string; to: string } | null }> {
  const recipientId = await resolveRecipient(platform, to);
  const [fromRegion, toRegion] = [await homeOf(platform, senderId), await homeOf(platform, recipientId)];
  const id = newId('msg');
  const sentAt = Date.now();
  const message: StoredMessage = { id, from: senderId, to: recipientId, text, sentAt, deliveredAt: sentAt, readAt: null };
  const crossing = fromRegion === toRegion ? null : { kind: 'message' as const, message: id, service, from: fromRegion, to: toRegion, sender: senderId, recipient: recipientId, bytes: Buffer.byteLength(text) };
  if (crossing) await platform.region(fromRegion).recordEvents({ events: [{ id: `delivery:message:${id}:source`, event: { type: 'delivery', ...crossing, role: 'source' } }] });
  await routeToHome(platform, recipientId, service, (client, ref) => client.putRecord({ ...ref, collection, key: `in-${id}`, value: message, ifVersion: 0 }));
  if (crossing) await platform.region(toRegion).recordEvents({ events: [{ id: `delivery:message:${id}:destination`, event: { type: 'delivery', ...crossing, role: 'destination' } }] });
  await routeToHome(platform, senderId, service, (client, ref) => client.putRecord({ ...ref, collection, key: `out-${id}`, value: message, ifVersion: 0 }));
  return { ...view(message, 'outbox'), crossBorder: crossing && { from: fromRegion, to: toRegion } };
}

function view(m: StoredMessage, box: 'inbox' | 'outbox'): MessageView {
  return { id: m.id, box, with: box === 'inbox' ? m.from : m.to, text: m.text, sentAt: m.sentAt, deliveredAt: m.deliveredAt, readAt: m.readAt };
}

/** A user's inbox or outbox, oldest first. */
export async function listMessages(platform: Platform, userId: string, box: 'inbox' | 'outbox'): Promise<MessageView[]> {
  const prefix = box === 'inbox' ? 'in-' : 'out-';
  const records = await routeToHome(platform, userId, service, (client, ref) => client.listRecords({ ...ref, collection }));
  return records.filter((r) => r.key.startsWith(prefix)).map((r) => view(r.value as StoredMessage, box)).sort((a, b) => a.sentAt - b.sentAt);
}

/** The recipient reads a message: their copy says when, and a read receipt goes to the sender's copy. */
export async function markRead(platform: Platform, userId: string, messageId: string): Promise<MessageView> {
  const record = await routeToHome(platform, userId, service, (client, ref) => client.getRecord({ ...ref, collection, key: `in-${messageId}` }));
  if (!record) throw new DomicileError('NOT_FOUND', `no message ${messageId} in your inbox`);
  const message = record.value as StoredMessage;
  if (message.readAt !== null) return view(message, 'inbox');
  const read = { ...message, readAt: Date.now() };
  await routeToHome(platform, userId, service, (client, ref) => client.putRecord({ ...ref, collection, key: `in-${messageId}`, value: read, ifVersion: record.version }));
  const [fromRegion, toRegion] = [await homeOf(platform, userId), await homeOf(platform, message.from)];
  const crossing = fromRegion === toRegion ? null : { type: 'delivery' as const, kind: 'receipt' as const, message: messageId, service, from: fromRegion, to: toRegion, sender: message.from, recipient: userId, bytes: 0 };
  if (crossing) await auditCrossing(platform, crossing);
  await routeToHome(platform, message.from, service, async (client, ref) => {
    const sent = await client.getRecord({ ...ref, collection, key: `out-${messageId}` });
    // The sender may have deleted their copy: the receipt then has nowhere to go.
    if (sent) await client.putRecord({ ...ref, collection, key: `out-${messageId}`, value: { ...(sent.value as StoredMessage), readAt: read.readAt }, ifVersion: sent.version });
  });
  return view(read, 'inbox');
}
