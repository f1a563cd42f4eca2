/**
 * A tiny DNS server for tests: UDP on 127.0.0.1, answering A and AAAA queries
 * from a script, with the wire encoding written out here (RFC 1035: header,
 * one question, answers that point back at the question's name). It uses
 * `node:dgram`, since `Deno.listenDatagram` needs `--unstable-net`.
 */

import dgram from "node:dgram";

/** One query the server received. */
export interface DnsQuery {
  /** The name asked for, lowercase, without the trailing dot. */
  name: string;
  /** `A`, `AAAA`, or the numeric type of anything else. */
  type: string;
}

/**
 * What to answer: the addresses for a query (the n-th for this name and type, from 1), an empty list for
 * "no records" (NOERROR), or null for "no such name" (NXDOMAIN).
 */
export type DnsScript = (query: DnsQuery, n: number) => string[] | null;

/** A running test DNS server. */
export interface TestDnsServer extends AsyncDisposable {
  /** Its UDP port on 127.0.0.1. */
  port: number;
  /** Every query, in order. */
  queries: DnsQuery[];
}

const TYPES: Record<number, string> = { 1: "A", 28: "AAAA" };

/** Reads the question of a query: its name, type, and where the question ends. */
function readQuestion(msg: Uint8Array): { name: string; type: number; end: number } | null {
  let at = 12;
  const labels: string[] = [];
  while (at < msg.length) {
    const len = msg[at]!;
    if (len === 0) break;
    if (len > 63) return null; // no compression in a question we accept
    labels.push(new TextDecoder().decode(msg.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return null;
  const type = (msg[at + 1]! << 8) | msg[at + 2]!;
  return { name: labels.join(".").toLowerCase(), type, end: at + 5 };
}

/** An address's bytes: four for IPv4, sixteen for IPv6. */
function addressBytes(address: string): number[] {
  if (!address.includes(":")) return address.split(".").map(Number);
  const [head = "", tail = ""] = address.split("::");
  const words = (s: string) => (s === "" ? [] : s.split(":").map((w) => parseInt(w, 16)));
  const h = words(head);
  const t = words(tail);
  const all = address.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill(0), ...t] : h;
  return all.flatMap((w) => [w >> 8, w & 255]);
}

/**
 * Encodes the answer to `query`: the header (same id, a response, recursion available, rcode), the question
 * copied, and one record per address (name as a pointer to offset 12, class IN, TTL 0 so nothing caches it).
 */
export function encodeAnswer(query: Uint8Array, addresses: string[] | null): Uint8Array {
  const q = readQuestion(query);
  if (!q) return new Uint8Array([query[0] ?? 0, query[1] ?? 0, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]); // FORMERR
  const records = (addresses ?? []).filter((a) => (q.type === 28) === a.includes(":"));
  const out = [
    query[0]!,
    query[1]!,
    0x81 | (query[2]! & 0x01), // QR, and RD copied
    addresses === null ? 0x83 : 0x80, // RA, and NXDOMAIN or NOERROR
    0,
    1,
    records.length >> 8,
    records.length & 255,
    0,
    0,
    0,
    0,
    ...query.subarray(12, q.end),
  ];
  for (const a of records) {
    const rdata = addressBytes(a);
    out.push(0xc0, 12, 0, q.type, 0, 1, 0, 0, 0, 0, 0, rdata.length, ...rdata);
  }
  return new Uint8Array(out);
}

/**
 * Starts a DNS server on 127.0.0.1 that answers by `script`.
 *
 * @param script What to answer to the n-th query of a name and type.
 * @returns The server: its port, the queries it saw; closed when disposed.
 */
export async function dnsServer(script: DnsScript): Promise<TestDnsServer> {
  const socket = dgram.createSocket("udp4");
  const queries: DnsQuery[] = [];
  const counts = new Map<string, number>();
  socket.on("message", (msg: Uint8Array, rinfo: { port: number; address: string }) => {
    const q = readQuestion(msg);
    let answer: string[] | null = null;
    if (q) {
      const query = { name: q.name, type: TYPES[q.type] ?? String(q.type) };
      queries.push(query);
      const key = `${query.name} ${query.type}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      answer = script(query, counts.get(key)!);
    }
    socket.send(encodeAnswer(msg, answer), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    port: socket.address().port,
    queries,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
