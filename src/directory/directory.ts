/**
 * The directory: user → home region per service, with an epoch a migration raises. It is
 * pseudonymous: users are random ids, login identifiers appear only as keyed blind indexes,
 * sessions carry no device names (those rest, encrypted, in the user's home region).
 * Async so that a PostgreSQL directory can share it between several gateways.
 */

export interface DirectoryUser {
  userId: string;
  market: string;
  createdAt: number;
}

export interface HomeEntry {
  service: string;
  region: string;
  epoch: number;
}

export interface HomeCount {
  market: string;
  service: string;
  region: string;
  users: number;
}

export interface SessionEntry {
  sessionId: string;
  userId: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface HomeFlip {
  userId: string;
  service: string;
  toRegion: string;
  fromEpoch: number;
}

export interface NewUser {
  userId: string;
  market: string;
  /** Blind indexes of the user's login identifiers (phone, e-mail). */
  logins: string[];
  homes: HomeEntry[];
  createdAt: number;
}

export interface Directory {
  init(): Promise<void>;
  close(): Promise<void>;

  /** Atomically claims the logins and records the homes; CONFLICT if a login is taken. */
  createUser(user: NewUser): Promise<void>;
  /** Removes a user and their logins, homes and sessions (a failed registration, an erasure). */
  deleteUser(userId: string): Promise<void>;
  findByLogin(blindIndex: string): Promise<string | undefined>;
  getUser(userId: string): Promise<DirectoryUser | undefined>;
  /** Users in id order after `afterUserId`, for reports and migration planning. */
  listUsers(afterUserId: string, limit: number): Promise<DirectoryUser[]>;
  countUsers(): Promise<number>;
  /** How many users have their home for a service in a region, per market. */
  homeCounts(): Promise<HomeCount[]>;

  home(userId: string, service: string): Promise<HomeEntry | undefined>;
  homes(userId: string): Promise<HomeEntry[]>;
  /**
   * Moves users' homes for a service, each compare-and-set on its epoch: a flip succeeds only
   * if the current epoch is its `fromEpoch`, and sets `fromEpoch + 1`. All in one transaction
   * (a migration's batch flips at once); returns, in order, whether each flipped.
   */
  flipHomes(flips: readonly HomeFlip[]): Promise<boolean[]>;

  createSession(session: Omit<SessionEntry, 'revokedAt'>): Promise<void>;
  isSessionActive(userId: string, sessionId: string): Promise<boolean>;
  listSessions(userId: string): Promise<SessionEntry[]>;
  /** Revokes one session; false when it is not the user's or already revoked. */
  revokeSession(userId: string, sessionId: string, at: number): Promise<boolean>;
}
