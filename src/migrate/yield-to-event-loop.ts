/**
 * Lets the event loop run (I/O, timers, other requests) before going on. The coordinator
 * shares its process with the gateway, and with in-process regions every call it awaits
 * settles as a microtask, which never lets a request in: without this between users, an
 * uncapped migration would stall every user of the platform until it ended.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
