package org.xenfork.qmp;

/**
 * One command on its way out. {@code head} is the JSON text of the command without its closing brace
 * (<code>{"execute":"NAME"</code> or <code>{"execute":"NAME","arguments":{…}</code>), serialised on the
 * caller's thread; the id is given on the event loop, which allocates ids in the order commands reach the
 * socket. {@link QmpCommandEncoder} appends <code>,"id":N}</code> and CRLF.
 */
record QmpCommand(String name, byte[] head, long id) {
}
