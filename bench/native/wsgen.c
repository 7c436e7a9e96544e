/*
 * wsgen — Lifeline's native WebSocket load generator.
 *
 * One single-threaded epoll loop, libc only. Built at bench time with
 * `cc -O2` by bench/lib/native.js into bench/native/build/wsgen.
 *
 * Modes
 *   echo       N connections, W messages in flight per connection, payload S
 *              bytes. Every payload carries a per-connection sequence number
 *              and the send timestamp; every echo is checked (once, in order,
 *              same opcode, same length, tail intact) and timed.
 *   handshake  C concurrent slots: connect, upgrade (101 + Sec-WebSocket-Accept
 *              checked), close handshake, repeat. Reports completed cycles/s.
 *   idle       Open N connections and hold them, answering pings with pongs.
 *              SIGUSR1 prints a stats event, SIGTERM/SIGINT end the hold.
 *              With --idle-msgs M (ws and lifeline), each connection first
 *              sends M messages and gets their echoes (checked as in echo
 *              mode) before the "ready" event.
 *   fanout     N subscriber connections on --path and one publisher on
 *              --pub-path (--pub-proto, default --proto). The publisher sends
 *              publications carrying their number and send time, at most
 *              --window in flight: the next goes out when the oldest has
 *              reached every subscriber. --warmup-pubs, then --pubs measured
 *              (the window runs from the first measured send to the last
 *              delivery). Every subscriber must get every publication once,
 *              in order, intact; reports deliveries/s, delivery latency and
 *              per publication the time until its last subscriber had it.
 *              Lifeline subscribers count once the server's $subscribed
 *              request came (and was answered); they receive p envelopes.
 *
 * Protocols
 *   ws   plain RFC 6455 client (server frames unmasked).
 *   raw  same bytes to a TCP echo server: the "handshake" is our request
 *        echoed back and the frames come back masked, so both are parsed.
 *   eio  minimal engine.io v4 / socket.io v5 framing over WebSocket:
 *        open packet "0{..}", namespace connect "40", events 42["m","..."],
 *        server pings "2" answered with "3". Text only.
 *   lifeline
 *        Lifeline mode, JSON (PROTOCOL.md §2): offers the subprotocol
 *        lifeline.v1, sends {"t":"hello","v":1} and counts the connection
 *        ready at the welcome. Messages are {"t":"m","s":N[,"a":K],"d":"<S
 *        bytes>"}, so --size is the length of the string d. Server envelopes
 *        are parsed with their fields in any order; the echoed m envelopes
 *        must come with s = 1, 2, 3, ... and d intact. Cumulative acks are due
 *        after --ack-every received envelopes (64) or 50 ms, and ride on the
 *        next m when one goes out, else go alone as {"t":"a","a":K}.
 *        {"t":"ping","ts":X} is answered with {"t":"pong","ts":X}. The
 *        generator keeps no replay buffer and never resumes. In idle mode,
 *        --no-ack leaves the server's envelopes unacknowledged (held in the
 *        server's replay buffer).
 *        --format msgpack speaks lifeline.v1.msgpack instead (binary frames,
 *        the same envelopes as MessagePack maps), and --payload b sends the
 *        payload as bytes in b (base64 in JSON mode) instead of a string d;
 *        --size is then the number of bytes in b. Both: echo and idle modes.
 *        --payload bin (JSON mode) asks for the binary form (PROTOCOL.md
 *        §2.8: hello with "bin":true, and the welcome must agree): each m
 *        goes as one binary frame {"t":"m","s":N[,"a":K]} 0x00 <bytes of b>,
 *        and the echoes must come back so; acks and pongs stay text.
 *
 * Output: progress events on stderr as lines "@event {json}", and exactly one
 * JSON result line on stdout. Exit status 1 on integrity errors, 2 on setup
 * failure, 0 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { MODE_ECHO, MODE_HANDSHAKE, MODE_IDLE, MODE_FANOUT };
enum { PROTO_WS, PROTO_RAW, PROTO_EIO, PROTO_LL };
enum {
  ST_FREE,
  ST_CONNECTING,  /* TCP connect in progress */
  ST_UPGRADING,   /* request sent, waiting for 101 (or our echoed request) */
  ST_EIO_OPEN,    /* waiting for engine.io open packet "0{...}" */
  ST_EIO_CONNECT, /* sent "40", waiting for "40{...}" */
  ST_LL_WELCOME,  /* lifeline: sent the hello, waiting for the welcome */
  ST_OPEN,        /* ready */
  ST_CLOSING,     /* close frame sent, waiting for the server's close frame */
};

/* ------------------------------------------------------------------ config */

static struct {
  int mode, proto;
  const char *host;
  int port;
  const char *path;
  int conns, window, size, opcode, concurrency, connect_conc, src_ips;
  int close_fin; /* handshake mode: close the TCP connection right after the upgrade */
  int ack_every; /* lifeline: an ack is due after this many received envelopes */
  int idle_msgs; /* idle mode (ws, lifeline): messages each connection exchanges before "ready" */
  int no_ack;    /* lifeline: never acknowledge (the server's replay buffer keeps everything) */
  int ll_msgpack; /* lifeline: lifeline.v1.msgpack (MessagePack maps in binary frames) */
  int ll_bytes;   /* lifeline: the payload is b (bytes; base64 in JSON mode), not the string d */
  int ll_binform; /* lifeline, JSON mode: b in the binary form (PROTOCOL.md §2.8), no base64 */
  int pub_proto; /* fan-out: the publisher's protocol (default: --proto) */
  const char *pub_path; /* fan-out: the publisher's request path */
  int pubs, warmup_pubs; /* fan-out: measured publications, and warm-up ones before them */
  double warmup, duration, hold, drain, connect_timeout, stall;
} cfg = {
    .mode = MODE_ECHO, .proto = PROTO_WS, .host = "127.0.0.1", .port = 0,
    .path = "/", .conns = 64, .window = 64, .size = 64, .opcode = 2,
    .concurrency = 32, .connect_conc = 256, .src_ips = 4, .warmup = 1,
    .duration = 5, .hold = 60, .drain = 3, .connect_timeout = 30,
    .ack_every = 64, .pub_proto = -1, .pub_path = NULL, .pubs = 200, .warmup_pubs = 20,
    .stall = 10,
};

/* ------------------------------------------------------------------- state */

typedef struct conn {
  int fd, state, id;
  int proto;                 /* cfg.proto, or cfg.pub_proto for the fan-out publisher */
  int is_pub;                /* fan-out: the publisher */
  int ready;                 /* fan-out: a subscriber counted in the publications' fan-out */
  size_t req_len;            /* raw: length of the request we sent (echoed back) */
  uint32_t events;           /* epoll interest currently registered */
  uint8_t mask[4];
  uint32_t next_send, next_recv, inflight;
  uint8_t *in;
  size_t in_len, in_cap;
  uint8_t *out;
  size_t out_off, out_len, out_cap;
  uint8_t *frame;            /* echo mode: this connection's pre-masked frame */
  char key_accept[32];       /* expected Sec-WebSocket-Accept */
  uint64_t t_begin;          /* connect start (ns) */
  /* lifeline: the server's sequence (last s received, envelopes received since
   * our last ack and when the first of them came) and its cumulative ack of ours */
  uint64_t ll_rx, ll_first_pending, ll_server_acked;
  uint32_t ll_pending;
  uint64_t ll_o;             /* fan-out, lifeline: the last channel offset o received */
} conn_t;

static int ep = -1;
static conn_t *conns;
static int nconns;
static uint64_t now;
static struct sockaddr_in dst;
static char req_buf[1024];   /* raw mode: request of the most recent connect */

static uint8_t *tmpl;        /* unmasked payload template */
static size_t hdr_len;       /* frame header length incl. 4-byte mask key */
static size_t frame_len;     /* hdr_len + payload */
static size_t pfx_len, sfx_len; /* eio wrapper around the body: 42["m","  and  "] */
static const char EIO_PFX[] = "42[\"m\",\"";
static const char EIO_SFX[] = "\"]";
/* lifeline: an m envelope is its head (t, s and maybe a: ll_head) then ll_tail,
 * built once: the payload's key and the encoded payload template, where the
 * payload itself begins at ll_payload_at. JSON: LL_M_PFX, s, [LL_A_KEY, a,] then
 * LL_D_KEY, the template and LL_M_SFX (with --payload b: LL_B_KEY, the template
 * in base64, LL_M_SFX). MessagePack: a fixmap of 3 or 4 entries, fixstr keys,
 * integers in their shortest form, d as a str, b as a bin. */
static const char LL_M_PFX[] = "{\"t\":\"m\",\"s\":";
static const char LL_A_KEY[] = ",\"a\":";
static const char LL_D_KEY[] = ",\"d\":\"";
static const char LL_B_KEY[] = ",\"b\":\"";
static const char LL_M_SFX[] = "\"}";
static const char LL_HELLO[] = "{\"t\":\"hello\",\"v\":1}";
static const char LL_HELLO_BIN[] = "{\"t\":\"hello\",\"v\":1,\"bin\":true}";
static const char LL_ACK_PFX[] = "{\"t\":\"a\",\"a\":";
static const char LL_PONG_PFX[] = "{\"t\":\"pong\",\"ts\":";
static const char LL_PROTOCOL[] = "lifeline.v1";
static const char LL_PROTOCOL_MP[] = "lifeline.v1.msgpack";
/* MessagePack: {"t":"hello","v":1}, and the starts of {"t":"a","a":K} and {"t":"pong","ts":X} */
static const uint8_t MP_HELLO[] = {0x82, 0xa1, 't', 0xa5, 'h', 'e', 'l', 'l', 'o', 0xa1, 'v', 0x01};
static const uint8_t MP_ACK_PFX[] = {0x82, 0xa1, 't', 0xa1, 'a', 0xa1, 'a'};
static const uint8_t MP_PONG_PFX[] = {0x82, 0xa1, 't', 0xa4, 'p', 'o', 'n', 'g', 0xa2, 't', 's'};
static const uint8_t MP_M_HEAD[] = {0xa1, 't', 0xa1, 'm', 0xa1, 's'}; /* after the map's first byte */
#define LL_ACK_DELAY_NS 50000000ull /* PROTOCOL.md §2.3: ack 50 ms after the first unacked */
#define LL_HEAD_MAX 64 /* the longest head of an m envelope, either format */
static uint8_t *ll_tail;
static size_t ll_tail_len, ll_payload_at;
static size_t ll_b64_len;    /* --payload b in JSON mode: characters of the base64 payload */
static uint8_t *ll_scratch;  /* --payload b in JSON mode: the decoded parts of an echo */

static int conns_open, conns_ready, conns_failed, conns_started;
static int sending;          /* echo mode: replace each echo with a new message */
static uint64_t t0, t1;      /* measurement window (ns) */
static double connect_s, cpu_win;
static volatile sig_atomic_t sig_stop, sig_stats;

static struct {
  uint64_t sent, recv, win_recv, win_bytes, win_handshakes, handshakes;
  uint64_t pings, pongs_sent, eio_pings, unexpected_data, closed_by_server;
  uint64_t err_seq, err_opcode, err_len, err_payload, err_lost, err_closed;
  uint64_t err_protocol, err_handshake, err_connect, err_io;
  uint64_t ll_acks_riding, ll_acks_alone, ll_server_acks;
} st;

/* ------------------------------------------------------------------ utils */

static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg) {
  fprintf(stderr, "wsgen: %s: %s\n", msg, strerror(errno));
  printf("{\"ok\":false,\"error\":\"%s\"}\n", msg);
  exit(2);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) die("out of memory");
  return q;
}

static void event_line(const char *name, const char *extra) {
  fprintf(stderr, "@event {\"event\":\"%s\",\"t_ns\":%llu%s%s}\n", name,
          (unsigned long long)mono_ns(), extra ? "," : "", extra ? extra : "");
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* -------------------------------------------------------------- histogram */
/* Log-linear buckets over nanoseconds: 32 sub-buckets per power of two
 * (about 3% relative precision), constant-time insert. */

#define SUB_BITS 5
#define SUB_COUNT (1u << SUB_BITS)
#define NBUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)
typedef struct {
  uint64_t b[NBUCKETS], count, max;
} hist_t;

/* lat: echo, handshake and fan-out delivery latency; reach: fan-out only, the
 * time from a publication's send until its last subscriber had it. */
static hist_t lat, reach;

static inline void hist_add(hist_t *h, uint64_t v) {
  int idx;
  if (v < SUB_COUNT) {
    idx = (int)v;
  } else {
    int e = 63 - __builtin_clzll(v);
    int shift = e - SUB_BITS;
    idx = ((shift + 1) << SUB_BITS) + (int)((v >> shift) & (SUB_COUNT - 1));
  }
  h->b[idx]++;
  h->count++;
  if (v > h->max) h->max = v;
}

static double hist_pct(const hist_t *h, double p) {
  if (!h->count) return 0;
  uint64_t want = (uint64_t)(p * h->count + 0.999999), acc = 0;
  if (want < 1) want = 1;
  for (int i = 0; i < (int)NBUCKETS; i++) {
    acc += h->b[i];
    if (acc >= want) {
      if (i < (int)SUB_COUNT) return i;
      int shift = i / SUB_COUNT - 1;
      uint64_t lo = (uint64_t)(SUB_COUNT + i % SUB_COUNT) << shift;
      double mid = (double)lo + (double)(1ull << shift) / 2; /* bucket midpoint */
      return mid > (double)h->max ? (double)h->max : mid;     /* never above the largest sample */
    }
  }
  return (double)h->max;
}

/* ------------------------------------------------------------ SHA-1, b64 */
/* Only used to verify Sec-WebSocket-Accept. */

static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  uint8_t block[64];
  size_t total = ((len + 8) / 64 + 1) * 64;
  for (size_t off = 0; off < total; off += 64) {
    for (int i = 0; i < 64; i++) {
      size_t j = off + i;
      if (j < len) block[i] = msg[j];
      else if (j == len) block[i] = 0x80;
      else if (j >= total - 8) block[i] = (uint8_t)(((uint64_t)len * 8) >> (8 * (total - 1 - j)));
      else block[i] = 0;
    }
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
      w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
             (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
      else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
      else f = b ^ c ^ d, k = 0xCA62C1D6;
      uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rol(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  }
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

/* Base64 of n bytes at out (padded), without a terminating NUL. */
static void b64_into(const uint8_t *in, size_t n, uint8_t *out) {
  static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                 (i + 2 < n ? in[i + 2] : 0);
    out[o++] = (uint8_t)T[v >> 18 & 63];
    out[o++] = (uint8_t)T[v >> 12 & 63];
    out[o++] = i + 1 < n ? (uint8_t)T[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? (uint8_t)T[v & 63] : '=';
  }
}

/* Base64 of n bytes as a NUL-terminated string. */
static void b64(const uint8_t *in, size_t n, char *out) {
  b64_into(in, n, (uint8_t *)out);
  out[(n + 2) / 3 * 4] = 0;
}

/* Decodes nchars (a multiple of 4) of base64 at in to out; returns the bytes
 * written, or -1 for a character outside the alphabet or misplaced padding. */
static ssize_t b64_decode(const uint8_t *in, size_t nchars, uint8_t *out) {
  size_t o = 0;
  for (size_t i = 0; i + 4 <= nchars; i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      uint8_t c = in[i + k], d;
      if (c >= 'A' && c <= 'Z') d = c - 'A';
      else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
      else if (c >= '0' && c <= '9') d = c - '0' + 52;
      else if (c == '+') d = 62;
      else if (c == '/') d = 63;
      else if (c == '=' && k >= 2 && i + 4 == nchars && (k == 3 || in[i + 3] == '=')) d = 0, pad++;
      else return -1;
      v = v << 6 | d;
    }
    out[o++] = (uint8_t)(v >> 16);
    if (pad < 2) out[o++] = (uint8_t)(v >> 8);
    if (pad < 1) out[o++] = (uint8_t)v;
  }
  return (ssize_t)o;
}

static void fill_random(void *p, size_t n) {
  if (getrandom(p, n, 0) != (ssize_t)n) {
    /* Not security relevant: fall back to a time-seeded generator. */
    uint8_t *b = p;
    static uint64_t x = 0;
    if (!x) x = mono_ns() | 1;
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b[i] = (uint8_t)x;
    }
  }
}

/* ---------------------------------------------------------------- payload */
/* Body layout (after the eio prefix, before the eio suffix), ASCII so it is
 * also valid as a text frame:
 *   [8 hex: seq][16 hex: send time ns][fill 'a'..'z' ...][8 hex: seq]        */

#define FIELD_LEN 24
#define TAIL_LEN 8
static const char HEX[] = "0123456789abcdef";

/* `proto`: the protocol of the connections that send messages (in fan-out
 * mode the publisher's). */
static void build_template(int proto) {
  if (proto == PROTO_EIO) {
    pfx_len = strlen(EIO_PFX);
    sfx_len = strlen(EIO_SFX);
  }
  size_t min = pfx_len + FIELD_LEN + TAIL_LEN + sfx_len;
  if ((size_t)cfg.size < min) {
    fprintf(stderr, "wsgen: --size must be at least %zu for this protocol\n", min);
    exit(2);
  }
  tmpl = xrealloc(NULL, cfg.size);
  for (int i = 0; i < cfg.size; i++) tmpl[i] = (uint8_t)('a' + i % 26);
  memcpy(tmpl, EIO_PFX, pfx_len);
  memcpy(tmpl + cfg.size - sfx_len, EIO_SFX, sfx_len);
  size_t n = cfg.size;
  if (proto == PROTO_LL) {
    /* The payload template is ASCII: as the string d it needs no JSON escaping. */
    ll_tail = xrealloc(NULL, n * 2 + 64);
    size_t t = 0;
    if (cfg.ll_binform) {
      /* the binary form: the head's closing brace, 0x00, then the bytes as they are */
      ll_tail[t++] = '}';
      ll_tail[t++] = 0;
      ll_payload_at = t;
      memcpy(ll_tail + t, tmpl, n);
      t += n;
    } else if (!cfg.ll_msgpack) {
      const char *key = cfg.ll_bytes ? LL_B_KEY : LL_D_KEY;
      memcpy(ll_tail, key, strlen(key));
      t = ll_payload_at = strlen(key);
      if (cfg.ll_bytes) {
        ll_b64_len = (n + 2) / 3 * 4;
        b64_into(tmpl, n, ll_tail + t);
        t += ll_b64_len;
        ll_scratch = xrealloc(NULL, n);
        memcpy(ll_scratch, tmpl, n);
      } else {
        memcpy(ll_tail + t, tmpl, n);
        t += n;
      }
      memcpy(ll_tail + t, LL_M_SFX, strlen(LL_M_SFX));
      t += strlen(LL_M_SFX);
    } else {
      /* fixstr key, then str 8/16/32 (d) or bin 8/16/32 (b), shortest first */
      ll_tail[t++] = 0xa1;
      ll_tail[t++] = cfg.ll_bytes ? 'b' : 'd';
      int b = cfg.ll_bytes;
      if (n < 256) ll_tail[t++] = b ? 0xc4 : 0xd9, ll_tail[t++] = (uint8_t)n;
      else if (n < 65536) ll_tail[t++] = b ? 0xc5 : 0xda, ll_tail[t++] = (uint8_t)(n >> 8), ll_tail[t++] = (uint8_t)n;
      else {
        ll_tail[t++] = b ? 0xc6 : 0xdb;
        for (int i = 3; i >= 0; i--) ll_tail[t++] = (uint8_t)(n >> (8 * i));
      }
      ll_payload_at = t;
      memcpy(ll_tail + t, tmpl, n);
      t += n;
    }
    ll_tail_len = t;
    n = LL_HEAD_MAX + ll_tail_len; /* the largest m envelope */
  }
  hdr_len = (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4;
  frame_len = hdr_len + n;
}

/* Frame header for a client frame of `len` bytes; returns header length
 * (mask key included). */
static size_t put_header(uint8_t *p, int opcode, size_t len, const uint8_t mk[4]) {
  size_t h = 0;
  p[h++] = (uint8_t)(0x80 | opcode);
  if (len < 126) {
    p[h++] = (uint8_t)(0x80 | len);
  } else if (len < 65536) {
    p[h++] = 0x80 | 126;
    p[h++] = (uint8_t)(len >> 8);
    p[h++] = (uint8_t)len;
  } else {
    p[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) p[h++] = (uint8_t)((uint64_t)len >> (8 * i));
  }
  memcpy(p + h, mk, 4);
  return h + 4;
}

static inline void put_hex_masked(uint8_t *payload, size_t at, uint64_t v, int ndig,
                                  const uint8_t mk[4]) {
  for (int i = ndig - 1; i >= 0; i--) {
    payload[at + i] = (uint8_t)HEX[v & 15] ^ mk[(at + i) & 3];
    v >>= 4;
  }
}

static inline void put_hex(uint8_t *p, uint64_t v, int ndig) {
  for (int i = ndig - 1; i >= 0; i--) {
    p[i] = (uint8_t)HEX[v & 15];
    v >>= 4;
  }
}

static inline size_t dec_len(uint64_t v) {
  size_t n = 1;
  while (v >= 10) v /= 10, n++;
  return n;
}

/* Decimal digits of v at p; returns how many. */
static size_t put_dec(uint8_t *p, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do tmp[n++] = (char)('0' + v % 10), v /= 10;
  while (v);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)tmp[n - 1 - i];
  return n;
}

/* MessagePack: v as an unsigned integer in its shortest form at p; returns its length. */
static size_t put_mp_uint(uint8_t *p, uint64_t v) {
  if (v < 0x80) return p[0] = (uint8_t)v, 1;
  size_t n = v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x100000000ull ? 4 : 8;
  p[0] = n == 1 ? 0xcc : n == 2 ? 0xcd : n == 4 ? 0xce : 0xcf;
  for (size_t i = 0; i < n; i++) p[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  return n + 1;
}

/* Mask a client frame's payload in place, four bytes at a time. */
static void mask_bytes(uint8_t *p, size_t n, const uint8_t mk[4]) {
  uint32_t m, v;
  size_t i = 0;
  memcpy(&m, mk, 4);
  for (; i + 4 <= n; i += 4) {
    memcpy(&v, p + i, 4);
    v ^= m;
    memcpy(p + i, &v, 4);
  }
  for (; i < n; i++) p[i] ^= mk[i & 3];
}

/* Hex digit values; 0xff marks a non-digit. Filled by init_hexval(). */
static uint8_t HEXVAL[256];

static void init_hexval(void) {
  memset(HEXVAL, 0xff, sizeof HEXVAL);
  for (int i = 0; i < 16; i++) HEXVAL[(uint8_t)HEX[i]] = (uint8_t)i;
}

/* Parse ndig hex digits at payload[at], unmasking with mk when non-NULL. */
static inline int get_hex(const uint8_t *payload, size_t at, int ndig, const uint8_t *mk,
                          uint64_t *out) {
  uint64_t v = 0;
  uint8_t bad = 0;
  if (mk) {
    for (int i = 0; i < ndig; i++) {
      uint8_t d = HEXVAL[payload[at + i] ^ mk[(at + i) & 3]];
      bad |= d;
      v = v << 4 | (d & 15);
    }
  } else {
    for (int i = 0; i < ndig; i++) {
      uint8_t d = HEXVAL[payload[at + i]];
      bad |= d;
      v = v << 4 | (d & 15);
    }
  }
  *out = v;
  return (bad & 0xf0) ? -1 : 0;
}

/* -------------------------------------------------------- connection I/O */

static void ep_set(conn_t *c, uint32_t events) {
  if (c->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl mod");
  c->events = events;
}

static void out_reserve(conn_t *c, size_t n) {
  if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
  if (c->out_len + n <= c->out_cap) return;
  if (c->out_off) { /* compact before growing */
    memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
    c->out_len -= c->out_off;
    c->out_off = 0;
    if (c->out_len + n <= c->out_cap) return;
  }
  size_t cap = c->out_cap ? c->out_cap : 4096;
  while (cap < c->out_len + n) cap *= 2;
  c->out = xrealloc(c->out, cap);
  c->out_cap = cap;
}

/* Queue a small control or eio frame (payload copied and masked). */
static void queue_frame(conn_t *c, int opcode, const uint8_t *data, size_t len) {
  out_reserve(c, len + 14);
  uint8_t *p = c->out + c->out_len;
  size_t h = put_header(p, opcode, len, c->mask);
  for (size_t i = 0; i < len; i++) p[h + i] = data[i] ^ c->mask[i & 3];
  c->out_len += h + len;
}

/* Build the connection's pre-masked frame (header + masked template). */
static void build_frame(conn_t *c) {
  if (!c->frame) c->frame = xrealloc(NULL, frame_len);
  size_t h = put_header(c->frame, cfg.opcode, cfg.size, c->mask);
  for (size_t i = 0; i < (size_t)cfg.size; i++) c->frame[h + i] = tmpl[i] ^ c->mask[i & 3];
}

/* lifeline: an ack is due (PROTOCOL.md §2.3): --ack-every envelopes arrived
 * since the last one, or the first of them arrived 50 ms ago. */
static inline int ll_ack_due(const conn_t *c) {
  return c->ll_pending && !cfg.no_ack &&
         (c->ll_pending >= (uint32_t)cfg.ack_every || now - c->ll_first_pending >= LL_ACK_DELAY_NS);
}

/* lifeline: a stand-alone {"t":"a","a":K}, for an ack that is due when no m
 * goes out to carry it. */
static void queue_ll_ack(conn_t *c) {
  uint8_t buf[48];
  size_t n;
  if (cfg.ll_msgpack) {
    memcpy(buf, MP_ACK_PFX, n = sizeof MP_ACK_PFX);
    n += put_mp_uint(buf + n, c->ll_rx);
  } else {
    memcpy(buf, LL_ACK_PFX, n = sizeof LL_ACK_PFX - 1);
    n += put_dec(buf + n, c->ll_rx);
    buf[n++] = '}';
  }
  c->ll_pending = 0;
  st.ll_acks_alone++;
  queue_frame(c, cfg.opcode, buf, n);
}

/* lifeline: the head of an m envelope (everything before ll_tail) at p; returns its length. */
static size_t ll_head(uint8_t *p, uint64_t s, int ack, uint64_t a) {
  size_t n = 0;
  if (cfg.ll_msgpack) {
    p[n++] = ack ? 0x84 : 0x83;
    memcpy(p + n, MP_M_HEAD, sizeof MP_M_HEAD);
    n += sizeof MP_M_HEAD;
    n += put_mp_uint(p + n, s);
    if (ack) {
      p[n++] = 0xa1;
      p[n++] = 'a';
      n += put_mp_uint(p + n, a);
    }
    return n;
  }
  memcpy(p, LL_M_PFX, n = sizeof LL_M_PFX - 1);
  n += put_dec(p + n, s);
  if (ack) {
    memcpy(p + n, LL_A_KEY, sizeof LL_A_KEY - 1);
    n += sizeof LL_A_KEY - 1;
    n += put_dec(p + n, a);
  }
  return n;
}

/* The payload's fields (sequence number and send time at the start, the
 * sequence number again at the end) written at p, a copy of the template: in
 * JSON mode with --payload b, into its base64 form (only the groups of 3 bytes
 * that hold them change). */
static void ll_put_fields(uint8_t *p, uint32_t seq) {
  size_t n = cfg.size;
  if (!ll_b64_len) {
    put_hex(p, seq, 8);
    put_hex(p + 8, now, 16);
    put_hex(p + n - TAIL_LEN, seq, 8);
    return;
  }
  uint8_t head[FIELD_LEN], tail[TAIL_LEN + 2];
  put_hex(head, seq, 8);
  put_hex(head + 8, now, 16);
  b64_into(head, FIELD_LEN, p); /* FIELD_LEN is a multiple of 3 */
  size_t from = (n - TAIL_LEN) / 3 * 3; /* the first group holding the tail */
  memcpy(tail, tmpl + from, n - from);
  put_hex(tail + (n - TAIL_LEN - from), seq, 8);
  b64_into(tail, n - from, p + from / 3 * 4);
}

/* lifeline: one m envelope. Its length depends on the digits of s (and of a,
 * when an ack rides along), so the payload cannot be pre-masked as in ws
 * mode: the envelope is assembled unmasked from the pre-built tail, patched,
 * and masked in one pass. */
static void queue_ll_message(conn_t *c) {
  uint32_t seq = c->next_send++;
  uint64_t s = (uint64_t)seq + 1; /* s counts from 1; the payload's seq from 0 */
  int ack = ll_ack_due(c);
  uint8_t head[LL_HEAD_MAX];
  size_t hl = ll_head(head, s, ack, c->ll_rx);
  if (ack) {
    c->ll_pending = 0;
    st.ll_acks_riding++;
  }
  size_t len = hl + ll_tail_len;
  out_reserve(c, len + 14);
  uint8_t *p = c->out + c->out_len;
  size_t h = put_header(p, cfg.ll_binform ? 2 : cfg.opcode, len, c->mask);
  memcpy(p + h, head, hl);
  memcpy(p + h + hl, ll_tail, ll_tail_len);
  ll_put_fields(p + h + hl + ll_payload_at, seq);
  mask_bytes(p + h, len, c->mask);
  c->out_len += h + len;
  c->inflight++;
  st.sent++;
}

/* Queue one echo-test message: a copy of the pre-masked frame with the
 * sequence number and send time patched in (masked). */
static void queue_message(conn_t *c) {
  if (c->proto == PROTO_LL) {
    queue_ll_message(c);
    return;
  }
  out_reserve(c, frame_len);
  uint8_t *p = c->out + c->out_len;
  memcpy(p, c->frame, frame_len);
  uint8_t *pl = p + hdr_len;
  const uint8_t *mk = c->mask;
  size_t n = cfg.size;
  uint32_t seq = c->next_send++;
  put_hex_masked(pl, pfx_len, seq, 8, mk);
  put_hex_masked(pl, pfx_len + 8, now, 16, mk);
  put_hex_masked(pl, n - sfx_len - TAIL_LEN, seq, 8, mk);
  c->out_len += frame_len;
  c->inflight++;
  st.sent++;
}

static void conn_close(conn_t *c);
static void fo_sub_gone(conn_t *c);

/* Write as much as possible; keep EPOLLOUT registered only while pending. */
static int flush(conn_t *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (n > 0) {
      c->out_off += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      ep_set(c, EPOLLIN | EPOLLOUT);
      return 0;
    } else {
      st.err_io++;
      return -1;
    }
  }
  c->out_off = c->out_len = 0;
  if (c->events & EPOLLOUT) ep_set(c, EPOLLIN);
  return 0;
}

/* ---------------------------------------------------------- lifecycle */

static void conn_start(conn_t *c) {
  /* Reset per-connection state; the I/O buffers are kept for reuse. */
  c->next_send = c->next_recv = c->inflight = 0;
  c->ll_rx = c->ll_first_pending = c->ll_server_acked = 0;
  c->ll_pending = 0;
  c->ll_o = 0;
  c->ready = 0;
  c->proto = c->is_pub ? cfg.pub_proto : cfg.proto;
  c->in_len = c->out_off = c->out_len = 0;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (cfg.src_ips > 1) {
    /* Spread source addresses over 127.0.0.1..K so TIME_WAIT on a single
     * source address cannot exhaust the ephemeral port range. */
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(conns_started % cfg.src_ips));
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind source address");
  }
  conns_started++;
  fill_random(c->mask, 4);
  if (!(c->mask[0] | c->mask[1] | c->mask[2] | c->mask[3])) c->mask[0] = 1;
  c->t_begin = now;
  c->state = ST_CONNECTING;
  c->events = EPOLLOUT;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl add");
  conns_open++;
  if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    st.err_connect++;
    conns_failed++;
    conn_close(c);
  }
}

static void conn_close(conn_t *c) {
  if (c->state == ST_FREE) return;
  if (c->ready) fo_sub_gone(c);
  close(c->fd); /* also removes it from the epoll set */
  c->fd = -1;
  c->state = ST_FREE;
  conns_open--;
}

static const char *ll_protocol(void) { return cfg.ll_msgpack ? LL_PROTOCOL_MP : LL_PROTOCOL; }

static void send_request(conn_t *c) {
  uint8_t rnd[16];
  char key[32], cat[96];
  fill_random(rnd, sizeof rnd);
  b64(rnd, sizeof rnd, key);
  char proto_hdr[64] = "";
  if (c->proto == PROTO_LL) snprintf(proto_hdr, sizeof proto_hdr, "Sec-WebSocket-Protocol: %s\r\n", ll_protocol());
  int n = snprintf(req_buf, sizeof req_buf,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s\r\n",
                   c->is_pub ? cfg.pub_path : cfg.path, cfg.host, cfg.port, key, proto_hdr);
  c->req_len = (size_t)n;
  snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  uint8_t dig[20];
  sha1((const uint8_t *)cat, strlen(cat), dig);
  b64(dig, 20, c->key_accept);
  out_reserve(c, (size_t)n);
  memcpy(c->out + c->out_len, req_buf, (size_t)n);
  c->out_len += (size_t)n;
  c->state = ST_UPGRADING;
  ep_set(c, EPOLLIN);
  flush(c);
}

static void handshake_failed(conn_t *c, const char *why) {
  if (st.err_handshake < 3) fprintf(stderr, "wsgen: handshake failed: %s\n", why);
  st.err_handshake++;
  conns_failed++;
  conn_close(c);
}

static void on_ready(conn_t *c);
static void fo_on_ready(conn_t *c);
static void fo_delivery(conn_t *c, int op, const uint8_t *pl, size_t len, const uint8_t *mk);

/* The value of header `name` (lower case, colon included) in a response
 * head of hlen bytes, without leading spaces; NULL when absent. */
static const uint8_t *find_header(const uint8_t *head, size_t hlen, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  for (size_t i = 0; i + nl < hlen; i++) {
    if ((i == 0 || head[i - 1] == '\n') && strncasecmp((const char *)head + i, name, nl) == 0) {
      size_t j = i + nl, e;
      while (j < hlen && head[j] == ' ') j++;
      for (e = j; e < hlen && head[e] != '\r'; e++) {}
      while (e > j && head[e - 1] == ' ') e--;
      *vlen = e - j;
      return head + j;
    }
  }
  return NULL;
}

/* Consume the HTTP response; returns bytes consumed, 0 if incomplete, -1 on
 * failure (connection already closed). */
static ssize_t parse_upgrade(conn_t *c) {
  if (c->proto == PROTO_RAW) {
    size_t n = c->req_len; /* our own request, echoed back */
    if (c->in_len < n) return 0;
    uint8_t *end = memmem(c->in, n, "\r\n\r\n", 4);
    if (memcmp(c->in, "GET ", 4) != 0 || !end || (size_t)(end - c->in) + 4 != n)
      return handshake_failed(c, "raw echo mismatch"), -1;
    c->state = ST_OPEN;
    return (ssize_t)n;
  }
  uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!end) {
    if (c->in_len > 16384) return handshake_failed(c, "response headers too large"), -1;
    return 0;
  }
  size_t hlen = (size_t)(end - c->in) + 4;
  if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
    char line[80];
    size_t l = 0;
    while (l < sizeof line - 1 && l < hlen && c->in[l] != '\r') line[l] = (char)c->in[l], l++;
    line[l] = 0;
    return handshake_failed(c, line), -1;
  }
  size_t vl;
  const uint8_t *v = find_header(c->in, hlen, "sec-websocket-accept:", &vl);
  if (!v || vl != strlen(c->key_accept) || memcmp(v, c->key_accept, vl) != 0)
    return handshake_failed(c, "bad Sec-WebSocket-Accept"), -1;
  if (c->proto == PROTO_LL) {
    /* Without the subprotocol the route would treat us as a raw client. */
    v = find_header(c->in, hlen, "sec-websocket-protocol:", &vl);
    if (!v || vl != strlen(ll_protocol()) || memcmp(v, ll_protocol(), vl) != 0)
      return handshake_failed(c, cfg.ll_msgpack ? "server did not select lifeline.v1.msgpack" : "server did not select lifeline.v1"), -1;
    if (cfg.ll_msgpack) queue_frame(c, 2, MP_HELLO, sizeof MP_HELLO);
    else if (cfg.ll_binform) queue_frame(c, 1, (const uint8_t *)LL_HELLO_BIN, strlen(LL_HELLO_BIN));
    else queue_frame(c, 1, (const uint8_t *)LL_HELLO, strlen(LL_HELLO));
    c->state = ST_LL_WELCOME;
    return (ssize_t)hlen;
  }
  c->state = c->proto == PROTO_EIO ? ST_EIO_OPEN : ST_OPEN;
  return (ssize_t)hlen;
}

static void start_close_handshake(conn_t *c) {
  static const uint8_t code[2] = {0x03, 0xe8}; /* 1000 */
  queue_frame(c, 8, code, 2);
  c->state = ST_CLOSING;
}

static void handshake_done(conn_t *c) {
  st.handshakes++;
  if (now >= t0 && now < t1) st.win_handshakes++;
  conn_close(c);
}

static void on_ready(conn_t *c) {
  conns_ready++;
  if (cfg.mode == MODE_HANDSHAKE) {
    if (now >= t0 && now < t1) hist_add(&lat, now - c->t_begin);
    if (c->proto == PROTO_RAW || cfg.close_fin) {
      handshake_done(c);
      return;
    }
    start_close_handshake(c);
  } else if (cfg.mode == MODE_ECHO) {
    if (c->proto != PROTO_LL) build_frame(c);
  } else if (cfg.mode == MODE_FANOUT) {
    fo_on_ready(c);
  } else if (cfg.idle_msgs > 0 && (c->proto == PROTO_WS || c->proto == PROTO_LL)) {
    /* Idle connections with some history: run_idle waits for these echoes. */
    if (c->proto != PROTO_LL) build_frame(c);
    for (int k = 0; k < cfg.idle_msgs; k++) queue_message(c);
  }
}

/* -------------------------------------------------------------- fan-out */
/* One publisher connection and N subscriber connections. Publication k carries
 * k as its sequence number and its send time in the usual payload; every
 * subscriber must receive every publication exactly once and in order.
 * Publications are sent in a closed loop: at most --window of them are in
 * flight, and publication k + window goes out only once publication k has
 * reached every subscriber, so the server is never given more than it can
 * drain and the rate is whatever it sustains. --warmup-pubs publications run
 * first; when all of them have arrived the measured phase sends --pubs more,
 * and the window is from its first send to its last delivery. */

static struct {
  conn_t *pub;
  int subs_ready;       /* subscribers each new publication must reach */
  int subs_at_start;
  int phase;            /* 0 connecting, 1 warm-up, 2 measured, 3 finished */
  uint64_t limit;       /* publications to send in the current phase */
  uint64_t done;        /* publications that reached every subscriber (or were lost) */
  uint32_t *left;       /* ring of --window slots: deliveries still due per publication */
  uint64_t *sent_at;    /* ring: when each publication was queued */
  uint64_t t_first, t_last, last_progress;
  double cpu0;
  int dirty;            /* the publisher has queued frames to flush */
} fo;

static void fo_send_one(void) {
  conn_t *p = fo.pub;
  uint32_t slot = p->next_send % (uint32_t)cfg.window;
  fo.left[slot] = (uint32_t)fo.subs_ready;
  fo.sent_at[slot] = now;
  queue_message(p);
  fo.dirty = 1;
}

/* Publish while the phase has publications left and fewer than --window are in flight. */
static void fo_fill(void) {
  if (fo.phase != 1 && fo.phase != 2) return;
  while (fo.pub->next_send < fo.limit && fo.pub->next_send - fo.done < (uint64_t)cfg.window) fo_send_one();
}

static void fo_start_measured(void) {
  fo.phase = 2;
  fo.limit = (uint64_t)cfg.warmup_pubs + (uint64_t)cfg.pubs;
  fo.cpu0 = cpu_seconds();
  event_line("measure-start", NULL);
  fo.t_first = now;
}

/* Publication k reached every subscriber still there (completions come in
 * publication order, because every subscriber receives in order). */
static void fo_complete(uint64_t k) {
  fo.done++;
  fo.last_progress = now;
  if (k >= (uint64_t)cfg.warmup_pubs) {
    hist_add(&reach, now - fo.sent_at[k % (uint32_t)cfg.window]);
    fo.t_last = now;
  }
  if (fo.done == fo.limit) {
    if (fo.phase == 1) {
      fo_start_measured();
    } else if (fo.phase == 2) {
      fo.phase = 3;
      cpu_win = cpu_seconds() - fo.cpu0;
      event_line("measure-end", NULL);
    }
  }
  fo_fill();
}

/* Publication k will never reach one of its subscribers. */
static void fo_lose(uint64_t k) {
  st.err_lost++;
  if (--fo.left[k % (uint32_t)cfg.window] == 0) fo_complete(k);
}

static void fo_on_ready(conn_t *c) {
  if (c->is_pub) {
    build_frame(c);
    return;
  }
  c->ready = 1;
  c->next_recv = 0;
  fo.subs_ready++;
}

/* A ready subscriber closed: what was published and not yet received is lost. */
static void fo_sub_gone(conn_t *c) {
  c->ready = 0;
  fo.subs_ready--;
  if (fo.phase != 1 && fo.phase != 2) return;
  for (uint64_t k = c->next_recv; k < fo.pub->next_send; k++) fo_lose(k);
}

static void fo_delivery(conn_t *c, int op, const uint8_t *pl, size_t len, const uint8_t *mk) {
  if (c->is_pub || !c->ready) {
    st.unexpected_data++;
    return;
  }
  uint64_t seq = 0, ts = 0, tail = 0;
  int intact = 0;
  if (op != cfg.opcode) st.err_opcode++;
  if (len != (size_t)cfg.size) st.err_len++;
  else if (get_hex(pl, pfx_len, 8, mk, &seq) || get_hex(pl, pfx_len + 8, 16, mk, &ts) ||
           get_hex(pl, len - sfx_len - TAIL_LEN, 8, mk, &tail) || tail != seq)
    st.err_payload++;
  else
    intact = 1;
  /* A damaged delivery counts as the one expected, once, so the loop goes on. */
  if (!intact) seq = c->next_recv;
  if (seq < c->next_recv || seq >= fo.pub->next_send) { /* a duplicate, or never published */
    if (st.err_seq < 3) fprintf(stderr, "wsgen: conn %d: publication %llu again or unknown (next %u)\n", c->id, (unsigned long long)seq, c->next_recv);
    st.err_seq++;
    return;
  }
  if (seq > c->next_recv) { /* a gap: the skipped publications will not come */
    if (st.err_seq < 3) fprintf(stderr, "wsgen: conn %d expected publication %u got %llu\n", c->id, c->next_recv, (unsigned long long)seq);
    st.err_seq++;
    for (uint64_t k = c->next_recv; k < seq; k++) fo_lose(k);
  }
  c->next_recv = (uint32_t)seq + 1;
  st.recv++;
  if (seq >= (uint64_t)cfg.warmup_pubs) {
    st.win_recv++;
    st.win_bytes += len;
    if (intact && ts <= now) hist_add(&lat, now - ts);
  }
  if (--fo.left[seq % (uint32_t)cfg.window] == 0) fo_complete(seq);
}

/* --------------------------------------------------------------- frames */

/* Idle mode: announce each time the ping count reaches a multiple of the
 * number of connections, i.e. (for a heartbeat that pings everyone) the end of
 * each full ping round. The heartbeat scenario aligns its window on these. */
static void ping_round_check(void) {
  uint64_t n = st.pings + st.eio_pings;
  if (cfg.mode != MODE_IDLE || conns_ready <= 0 || n % (uint64_t)conns_ready) return;
  char buf[64];
  snprintf(buf, sizeof buf, "\"round\":%llu,\"pings\":%llu", (unsigned long long)(n / conns_ready),
           (unsigned long long)n);
  event_line("ping-round", buf);
}

static void on_echo(conn_t *c, int op, const uint8_t *pl, size_t len, const uint8_t *mk) {
  if (op != cfg.opcode) st.err_opcode++;
  if (len != (size_t)cfg.size) {
    st.err_len++;
  } else {
    uint64_t seq, ts, tail;
    if (get_hex(pl, pfx_len, 8, mk, &seq) || get_hex(pl, pfx_len + 8, 16, mk, &ts) ||
        get_hex(pl, len - sfx_len - TAIL_LEN, 8, mk, &tail) || tail != seq) {
      st.err_payload++;
      c->next_recv++; /* count the damaged message once, not again as a gap */
    } else {
      if (seq != c->next_recv) {
        if (st.err_seq < 3)
          fprintf(stderr, "wsgen: conn %d expected seq %u got %llu\n", c->id, c->next_recv,
                  (unsigned long long)seq);
        st.err_seq++;
      }
      c->next_recv = (uint32_t)seq + 1;
      if (now >= t0 && now < t1 && ts <= now) hist_add(&lat, now - ts);
    }
  }
  if (c->inflight) c->inflight--;
  else st.err_seq++; /* an echo nobody asked for */
  st.recv++;
  if (now >= t0 && now < t1) {
    st.win_recv++;
    st.win_bytes += len;
  }
  if (sending) queue_message(c);
}

/* Engine.io / socket.io text packet. */
static void on_eio(conn_t *c, int op, const uint8_t *pl, size_t len, const uint8_t *mk) {
  uint8_t a = len > 0 ? pl[0] ^ (mk ? mk[0] : 0) : 0;
  uint8_t b = len > 1 ? pl[1] ^ (mk ? mk[1] : 0) : 0;
  if (a == '2' && len == 1) { /* engine.io ping */
    st.eio_pings++;
    queue_frame(c, 1, (const uint8_t *)"3", 1);
    ping_round_check();
  } else if (c->state == ST_EIO_OPEN && a == '0') {
    queue_frame(c, 1, (const uint8_t *)"40", 2);
    c->state = ST_EIO_CONNECT;
  } else if (c->state == ST_EIO_CONNECT && a == '4' && b == '0') {
    c->state = ST_OPEN;
    on_ready(c);
  } else if (c->state == ST_OPEN && a == '4' && b == '2') {
    if (cfg.mode == MODE_ECHO) on_echo(c, op, pl, len, mk);
    else if (cfg.mode == MODE_FANOUT) fo_delivery(c, op, pl, len, mk);
    else st.unexpected_data++;
  } else if (a == '4' && b == '4') {
    handshake_failed(c, "socket.io connect_error");
  } else {
    st.unexpected_data++;
  }
}

/* ------------------------------------------------------- lifeline (JSON) */
/* A small scanner for the server's envelopes: one JSON object whose fields
 * may come in any order. Values are located, not decoded: strings stay raw
 * (escapes are only noticed), and only the integers s and a are converted.
 * Nested values (reset, e) are skipped. */

#define JBAD ((size_t)-1)

typedef struct {
  const uint8_t *t, *d, *b, *ts, *msg, *n;
  size_t t_len, d_len, b_len, ts_len, msg_len, n_len;
  int d_kind;       /* 0 absent, 1 string without escapes, 2 any other value */
  int has_b;        /* 1: b is a string without escapes (JSON) or a bin (MessagePack); 2: anything else */
  int bin;          /* "bin":true (a welcome that agrees to the binary form) */
  int64_t s, a, o, id; /* -1 absent, -2 not a plain integer */
} ll_env_t;

static inline size_t json_ws(const uint8_t *p, size_t i, size_t n) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
  return i;
}

/* The string at p[i] (a quote); returns the index after its closing quote. */
static size_t json_string(const uint8_t *p, size_t i, size_t n, int *escaped) {
  /* memchr for the next quote, then for a backslash before it: a 16 KiB payload costs two
   * vectorised scans, not a loop over its bytes */
  for (i++; i < n;) {
    const uint8_t *q = memchr(p + i, '"', n - i);
    if (!q) return JBAD;
    size_t at = (size_t)(q - p);
    const uint8_t *b = memchr(p + i, '\\', at - i);
    if (!b) return at + 1;
    *escaped = 1;
    i = (size_t)(b - p) + 2; /* past the escaped character */
  }
  return JBAD;
}

/* Any value at p[i]; returns the index after it. */
static size_t json_value(const uint8_t *p, size_t i, size_t n) {
  int esc = 0, depth = 0;
  if (i >= n) return JBAD;
  switch (p[i]) {
  case '"':
    return json_string(p, i, n, &esc);
  case '{':
  case '[':
    for (; i < n; i++) {
      if (p[i] == '"') {
        if ((i = json_string(p, i, n, &esc)) == JBAD) return JBAD;
        i--;
      } else if (p[i] == '{' || p[i] == '[') {
        depth++;
      } else if ((p[i] == '}' || p[i] == ']') && --depth == 0) {
        return i + 1;
      }
    }
    return JBAD;
  default:
    if (!(p[i] == '-' || (p[i] >= '0' && p[i] <= '9') || p[i] == 't' || p[i] == 'f' || p[i] == 'n'))
      return JBAD;
    while (i < n && (p[i] == '-' || p[i] == '+' || p[i] == '.' || (p[i] >= '0' && p[i] <= '9') ||
                     (p[i] >= 'a' && p[i] <= 'z') || p[i] == 'E'))
      i++;
    return i;
  }
}

/* A plain decimal integer of at most 15 digits (the server writes s and a so). */
static int64_t json_uint(const uint8_t *p, size_t n) {
  if (n == 0 || n > 15) return -2;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -2;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

static int ll_parse(const uint8_t *p, size_t n, ll_env_t *e) {
  memset(e, 0, sizeof *e);
  e->s = e->a = e->o = e->id = -1;
  size_t i = json_ws(p, 0, n);
  if (i >= n || p[i] != '{') return -1;
  i = json_ws(p, i + 1, n);
  if (i < n && p[i] == '}') return 0;
  for (;;) {
    int esc = 0;
    if (i >= n || p[i] != '"') return -1;
    size_t k = i + 1, kend = json_string(p, i, n, &esc);
    if (kend == JBAD || esc) return -1; /* the envelope's keys never need escapes */
    size_t kl = kend - 1 - k;
    i = json_ws(p, kend, n);
    if (i >= n || p[i] != ':') return -1;
    size_t v = json_ws(p, i + 1, n);
    int is_str = v < n && p[v] == '"';
    esc = 0;
    size_t vend = is_str ? json_string(p, v, n, &esc) : json_value(p, v, n);
    if (vend == JBAD) return -1;
    const uint8_t *key = p + k;
    const uint8_t *sv = p + v + is_str; /* string contents, or the raw value */
    size_t sl = vend - v - 2 * is_str;
    if (kl == 1 && key[0] == 't' && is_str) e->t = sv, e->t_len = sl;
    else if (kl == 1 && key[0] == 's') e->s = json_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'a') e->a = json_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'b') {
      e->has_b = is_str && !esc ? 1 : 2;
      e->b = sv, e->b_len = sl;
    }
    else if (kl == 1 && key[0] == 'o') e->o = json_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'n' && is_str) e->n = sv, e->n_len = sl;
    else if (kl == 2 && key[0] == 'i' && key[1] == 'd') e->id = json_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'd') {
      e->d_kind = is_str && !esc ? 1 : 2;
      e->d = sv, e->d_len = sl;
    } else if (kl == 2 && key[0] == 't' && key[1] == 's') e->ts = p + v, e->ts_len = vend - v;
    else if (kl == 7 && !memcmp(key, "message", 7) && is_str) e->msg = sv, e->msg_len = sl;
    else if (kl == 3 && !memcmp(key, "bin", 3)) e->bin = vend - v == 4 && !memcmp(p + v, "true", 4);
    i = json_ws(p, vend, n);
    if (i < n && p[i] == ',') {
      i = json_ws(p, i + 1, n);
      continue;
    }
    if (i < n && p[i] == '}') return json_ws(p, i + 1, n) == n ? 0 : -1;
    return -1;
  }
}

/* ------------------------------------------------- lifeline (MessagePack) */
/* The same envelopes as MessagePack maps: the same fields are located, values
 * are skipped by their type byte, nested maps and arrays included. */

/* Length of the value's head and of what follows it, for a str, bin or ext at
 * p[i]; -1 otherwise. */
static int mp_sized(const uint8_t *p, size_t i, size_t n, size_t *head, size_t *len) {
  uint8_t b = p[i];
  size_t w;
  if (b >= 0xa0 && b <= 0xbf) return *head = 1, *len = b & 0x1f, 0;
  switch (b) {
  case 0xc4: case 0xd9: w = 1; break;
  case 0xc5: case 0xda: w = 2; break;
  case 0xc6: case 0xdb: w = 4; break;
  case 0xd4: return *head = 2, *len = 1, 0;
  case 0xd5: return *head = 2, *len = 2, 0;
  case 0xd6: return *head = 2, *len = 4, 0;
  case 0xd7: return *head = 2, *len = 8, 0;
  case 0xd8: return *head = 2, *len = 16, 0;
  case 0xc7: case 0xc8: case 0xc9: {
    size_t lw = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4, l = 0;
    if (i + 1 + lw > n) return -1;
    for (size_t k = 0; k < lw; k++) l = l << 8 | p[i + 1 + k];
    return *head = 2 + lw, *len = l, 0;
  }
  default: return -1;
  }
  if (i + 1 + w > n) return -1;
  size_t l = 0;
  for (size_t k = 0; k < w; k++) l = l << 8 | p[i + 1 + k];
  return *head = 1 + w, *len = l, 0;
}

/* The index after the value at p[i], or JBAD. */
static size_t mp_skip(const uint8_t *p, size_t i, size_t n, int depth) {
  if (i >= n || depth > 32) return JBAD;
  uint8_t b = p[i];
  size_t head, len, items = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return i + 1;
  if (b == 0xcc || b == 0xd0) return i + 2;
  if (b == 0xcd || b == 0xd1) return i + 3;
  if (b == 0xca || b == 0xce || b == 0xd2) return i + 5;
  if (b == 0xcb || b == 0xcf || b == 0xd3) return i + 9;
  if (mp_sized(p, i, n, &head, &len) == 0) return i + head + len <= n ? i + head + len : JBAD;
  if (b >= 0x90 && b <= 0x9f) items = b & 0x0f, i += 1;
  else if (b >= 0x80 && b <= 0x8f) items = 2 * (size_t)(b & 0x0f), i += 1; /* a map: keys and values */
  else if ((b == 0xdc || b == 0xde) && i + 3 <= n) items = (size_t)p[i + 1] << 8 | p[i + 2], i += 3;
  else if ((b == 0xdd || b == 0xdf) && i + 5 <= n)
    items = (size_t)p[i + 1] << 24 | (size_t)p[i + 2] << 16 | (size_t)p[i + 3] << 8 | p[i + 4], i += 5;
  else return JBAD;
  if (b == 0xde || b == 0xdf) items *= 2;
  for (size_t k = 0; k < items; k++)
    if ((i = mp_skip(p, i, n, depth + 1)) == JBAD) return JBAD;
  return i;
}

static inline int mp_is_str(uint8_t b) { return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb); }

/* An unsigned MessagePack integer (fixint, uint 8/16/32/64) spanning p[0, n), or -2. */
static int64_t mp_uint(const uint8_t *p, size_t n) {
  if (n == 1 && p[0] <= 0x7f) return p[0];
  size_t w = p[0] == 0xcc ? 1 : p[0] == 0xcd ? 2 : p[0] == 0xce ? 4 : p[0] == 0xcf ? 8 : 0;
  if (!w || n != 1 + w) return -2;
  uint64_t v = 0;
  for (size_t k = 0; k < w; k++) v = v << 8 | p[1 + k];
  return v >= (1ull << 53) ? -2 : (int64_t)v;
}

static int ll_parse_mp(const uint8_t *p, size_t n, ll_env_t *e) {
  memset(e, 0, sizeof *e);
  e->s = e->a = e->o = e->id = -1;
  size_t i = 0, fields;
  if (n < 1) return -1;
  if (p[0] >= 0x80 && p[0] <= 0x8f) fields = p[0] & 0x0f, i = 1;
  else if (p[0] == 0xde && n >= 3) fields = (size_t)p[1] << 8 | p[2], i = 3;
  else return -1;
  for (size_t f = 0; f < fields; f++) {
    size_t kh, kl, vh, vl;
    if (i >= n || !mp_is_str(p[i]) || mp_sized(p, i, n, &kh, &kl) < 0 || i + kh + kl >= n) return -1;
    const uint8_t *key = p + i + kh;
    size_t v = i + kh + kl, vend = mp_skip(p, v, n, 0);
    if (vend == JBAD) return -1;
    int is_str = mp_is_str(p[v]);
    int is_bin = p[v] >= 0xc4 && p[v] <= 0xc6;
    const uint8_t *sv = NULL;
    size_t sl = 0;
    if ((is_str || is_bin) && mp_sized(p, v, n, &vh, &vl) == 0) sv = p + v + vh, sl = vl;
    if (kl == 1 && key[0] == 't' && is_str) e->t = sv, e->t_len = sl;
    else if (kl == 1 && key[0] == 's') e->s = mp_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'a') e->a = mp_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'o') e->o = mp_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'b') e->has_b = is_bin ? 1 : 2, e->b = sv, e->b_len = sl;
    else if (kl == 1 && key[0] == 'n' && is_str) e->n = sv, e->n_len = sl;
    else if (kl == 2 && key[0] == 'i' && key[1] == 'd') e->id = mp_uint(p + v, vend - v);
    else if (kl == 1 && key[0] == 'd') e->d_kind = is_str ? 1 : 2, e->d = sv, e->d_len = sl;
    else if (kl == 2 && key[0] == 't' && key[1] == 's') e->ts = p + v, e->ts_len = vend - v;
    else if (kl == 7 && !memcmp(key, "message", 7) && is_str) e->msg = sv, e->msg_len = sl;
    i = vend;
  }
  return i == n ? 0 : -1;
}

static inline int ll_is(const ll_env_t *e, const char *t) {
  size_t n = strlen(t);
  return e->t_len == n && memcmp(e->t, t, n) == 0;
}

/* The server's cumulative ack of our m envelopes: never above what we sent. */
static void ll_server_ack(conn_t *c, int64_t a) {
  if (a < 0 || (uint64_t)a > c->next_send) {
    if (st.err_protocol < 3) fprintf(stderr, "wsgen: conn %d: server ack %lld, only %u sent\n", c->id, (long long)a, c->next_send);
    st.err_protocol++;
    return;
  }
  st.ll_server_acks++;
  if ((uint64_t)a > c->ll_server_acked) c->ll_server_acked = (uint64_t)a;
}

/* lifeline: a request from the server. The only one expected is $subscribed
 * (PROTOCOL.md §3.3: the server subscribed this session; fan-out mode counts
 * the subscriber ready then). It is answered {"t":"r","s":S,"a":A,"id":ID,"d":null},
 * the ack of everything received so far riding on it. */
static void on_ll_request(conn_t *c, const ll_env_t *e) {
  if (c->state != ST_OPEN || e->s < 1 || e->id < 1 || cfg.ll_msgpack) { /* (fan-out speaks JSON only) */
    st.err_protocol++;
    return;
  }
  if ((uint64_t)e->s != c->ll_rx + 1) st.err_seq++;
  if ((uint64_t)e->s > c->ll_rx) c->ll_rx = (uint64_t)e->s;
  if (e->a != -1) ll_server_ack(c, e->a);
  int subscribed = e->n && e->n_len == 11 && !memcmp(e->n, "$subscribed", 11);
  if (!subscribed) st.unexpected_data++;
  uint8_t buf[96];
  size_t n = 0;
  memcpy(buf, "{\"t\":\"r\",\"s\":", 13);
  n = 13;
  n += put_dec(buf + n, (uint64_t)++c->next_send);
  memcpy(buf + n, ",\"a\":", 5);
  n += 5;
  n += put_dec(buf + n, c->ll_rx);
  memcpy(buf + n, ",\"id\":", 6);
  n += 6;
  n += put_dec(buf + n, (uint64_t)e->id);
  memcpy(buf + n, ",\"d\":null}", 10);
  n += 10;
  c->ll_pending = 0;
  st.ll_acks_riding++;
  queue_frame(c, 1, buf, n);
  if (subscribed && cfg.mode == MODE_FANOUT && !c->ready) on_ready(c);
}

/* The echo of one of our messages: d as a string, or b (in JSON mode, the
 * base64 groups that hold the payload's fields are decoded). A payload that
 * is not ours counts as having the wrong length. */
static void ll_echo(conn_t *c, const ll_env_t *e) {
  if (!cfg.ll_bytes) {
    on_echo(c, cfg.opcode, e->d, e->d_kind == 1 ? e->d_len : 0, NULL);
    return;
  }
  if (e->has_b != 1) {
    on_echo(c, cfg.opcode, e->b, 0, NULL);
    return;
  }
  if (!ll_b64_len) {
    on_echo(c, cfg.opcode, e->b, e->b_len, NULL);
    return;
  }
  size_t n = cfg.size, from = (n - TAIL_LEN) / 3 * 3, at = from / 3 * 4;
  int ok = e->b_len == ll_b64_len && b64_decode(e->b, FIELD_LEN / 3 * 4, ll_scratch) == FIELD_LEN &&
           b64_decode(e->b + at, ll_b64_len - at, ll_scratch + from) == (ssize_t)(n - from);
  on_echo(c, cfg.opcode, ll_scratch, ok ? n : 0, NULL);
}

/* One frame in Lifeline mode: a text frame, or a binary one with --format msgpack
 * or (--payload bin) in JSON's binary form, whose head ends at the first 0x00. */
static void on_ll(conn_t *c, const uint8_t *pl, size_t len, int binary) {
  ll_env_t e;
  const uint8_t *zero = binary && !cfg.ll_msgpack ? memchr(pl, 0, len) : NULL;
  size_t hl = zero ? (size_t)(zero - pl) : len;
  int bad = (cfg.ll_msgpack ? ll_parse_mp(pl, len, &e) : ll_parse(pl, hl, &e)) < 0 || !e.t;
  if (binary && !cfg.ll_msgpack) {
    bad = bad || !zero || e.has_b || e.d_kind; /* PROTOCOL.md §2.8 R5 */
    e.b = pl + hl + 1, e.b_len = len - hl - 1, e.has_b = 1;
  }
  if (bad) {
    if (st.err_protocol < 3) {
      if (cfg.ll_msgpack) fprintf(stderr, "wsgen: conn %d: not a MessagePack envelope (%zu bytes, first %02x)\n", c->id, len, len ? pl[0] : 0);
      else fprintf(stderr, "wsgen: conn %d: not an envelope: %.*s\n", c->id, (int)(len > 80 ? 80 : len), pl);
    }
    st.err_protocol++;
    return;
  }
  if (ll_is(&e, "m")) {
    if (c->state != ST_OPEN || e.s < 1 || (cfg.ll_bytes ? e.d_kind != 0 : e.has_b != 0)) {
      st.err_protocol++;
      return;
    }
    /* One connection, no resume: the server's s must run 1, 2, 3, ... */
    if ((uint64_t)e.s != c->ll_rx + 1) {
      if (st.err_seq < 3)
        fprintf(stderr, "wsgen: conn %d expected server s %llu got %lld\n", c->id,
                (unsigned long long)c->ll_rx + 1, (long long)e.s);
      st.err_seq++;
    }
    if ((uint64_t)e.s > c->ll_rx) c->ll_rx = (uint64_t)e.s;
    if (c->ll_pending++ == 0) c->ll_first_pending = now;
    if (e.a != -1) ll_server_ack(c, e.a);
    /* The echo of d (or b); a non-string or escaped d cannot be ours, and fails the length or payload check. */
    if (cfg.mode == MODE_ECHO || cfg.mode == MODE_IDLE) ll_echo(c, &e);
    else st.unexpected_data++;
  } else if (ll_is(&e, "p")) {
    /* A publication (PROTOCOL.md §3.2), outside the numbered stream: no s, no ack. */
    if (cfg.mode != MODE_FANOUT || c->state != ST_OPEN || !c->ready || e.o < 1 || e.has_b) {
      st.err_protocol++;
      return;
    }
    /* One channel, subscribed on a fresh server before its first publication:
     * its offsets run 1, 2, 3, ... on every subscriber. */
    if ((uint64_t)e.o != c->ll_o + 1) {
      if (st.err_seq < 3)
        fprintf(stderr, "wsgen: conn %d expected channel offset %llu got %lld\n", c->id,
                (unsigned long long)c->ll_o + 1, (long long)e.o);
      st.err_seq++;
    }
    c->ll_o = (uint64_t)e.o;
    fo_delivery(c, 1, e.d, e.d_kind == 1 ? e.d_len : 0, NULL);
  } else if (ll_is(&e, "q")) {
    on_ll_request(c, &e);
  } else if (ll_is(&e, "ping")) {
    uint8_t buf[96];
    size_t n = cfg.ll_msgpack ? sizeof MP_PONG_PFX : sizeof LL_PONG_PFX - 1;
    if (!e.ts || e.ts_len > 40) {
      st.err_protocol++;
      return;
    }
    memcpy(buf, cfg.ll_msgpack ? MP_PONG_PFX : (const uint8_t *)LL_PONG_PFX, n);
    memcpy(buf + n, e.ts, e.ts_len); /* ts goes back exactly as written */
    n += e.ts_len;
    if (!cfg.ll_msgpack) buf[n++] = '}';
    st.pings++;
    st.pongs_sent++;
    queue_frame(c, cfg.opcode, buf, n);
    ping_round_check();
  } else if (ll_is(&e, "a")) {
    ll_server_ack(c, e.a);
  } else if (ll_is(&e, "welcome")) {
    if (c->state != ST_LL_WELCOME) { /* one welcome per connection */
      st.err_protocol++;
      return;
    }
    if (cfg.ll_binform && !e.bin) {
      handshake_failed(c, "the welcome did not agree to the binary form (bin)");
      return;
    }
    c->state = ST_OPEN;
    if (cfg.mode != MODE_FANOUT) on_ready(c); /* fan-out: ready at $subscribed */
  } else if (ll_is(&e, "error")) {
    if (st.err_protocol < 3) fprintf(stderr, "wsgen: conn %d: server error: %.*s\n", c->id, (int)e.msg_len, e.msg ? (const char *)e.msg : "");
    st.err_protocol++;
  } else {
    st.unexpected_data++;
  }
}

/* Returns -1 when the connection was closed. */
static int on_frame(conn_t *c, int fin, int op, uint8_t *pl, size_t len, const uint8_t *mk) {
  switch (op) {
  case 8: /* close */
    if (c->state == ST_CLOSING) {
      handshake_done(c);
    } else {
      st.closed_by_server++;
      if (cfg.mode == MODE_ECHO || cfg.mode == MODE_FANOUT) st.err_closed++;
      conn_close(c);
    }
    return -1;
  case 9: { /* ping: answer with a masked pong carrying the same payload */
    uint8_t tmp[125];
    if (len > sizeof tmp) {
      st.err_protocol++;
      return 0;
    }
    for (size_t i = 0; i < len; i++) tmp[i] = pl[i] ^ (mk ? mk[i & 3] : 0);
    st.pings++;
    st.pongs_sent++;
    queue_frame(c, 10, tmp, len);
    ping_round_check();
    return 0;
  }
  case 10:
    return 0;
  case 1:
  case 2:
    if (!fin) { /* fragmented messages are not produced by the servers under test */
      st.err_protocol++;
      return 0;
    }
    if (c->proto == PROTO_EIO) {
      on_eio(c, op, pl, len, mk);
      return c->state == ST_FREE ? -1 : 0;
    }
    if (c->proto == PROTO_LL) {
      /* JSON mode is text only (binary too with the binary form), MessagePack binary only, and servers do not mask */
      if ((op != cfg.opcode && !(op == 2 && cfg.ll_binform)) || mk) {
        st.err_protocol++;
        return 0;
      }
      on_ll(c, pl, len, op == 2);
      return c->state == ST_FREE ? -1 : 0;
    }
    if (c->state == ST_OPEN && cfg.mode == MODE_FANOUT) fo_delivery(c, op, pl, len, mk);
    else if (c->state == ST_OPEN && (cfg.mode == MODE_ECHO || cfg.idle_msgs > 0)) on_echo(c, op, pl, len, mk);
    else st.unexpected_data++;
    return 0;
  default:
    st.err_protocol++;
    return 0;
  }
}

/* Parse complete frames from the input buffer. Returns -1 if closed. */
static int parse_frames(conn_t *c, size_t *need) {
  size_t off = 0;
  *need = 0;
  while (c->in_len - off >= 2) {
    uint8_t *p = c->in + off;
    size_t avail = c->in_len - off, h = 2;
    uint64_t len = p[1] & 0x7f;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t)p[2] << 8 | p[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
      h = 10;
    }
    const uint8_t *mk = NULL;
    if (p[1] & 0x80) {
      if (avail < h + 4) break;
      mk = p + h;
      h += 4;
    }
    if (len > (64u << 20)) {
      st.err_protocol++;
      conn_close(c);
      return -1;
    }
    if (avail < h + len) {
      *need = h + (size_t)len;
      break;
    }
    if (on_frame(c, p[0] & 0x80, p[0] & 0x0f, p + h, (size_t)len, mk) < 0) return -1;
    off += h + (size_t)len;
  }
  if (off) {
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
  }
  return 0;
}

static void on_readable(conn_t *c) {
  for (int round = 0; round < 8; round++) {
    size_t want = 2048; /* idle connections stay small */
    if (cfg.mode == MODE_FANOUT) want = 8192; /* thousands of subscribers, a few frames each per read */
    if (cfg.mode == MODE_ECHO) {
      want = frame_len * 16;
      if (want < 65536) want = 65536;
      if (want > (1u << 20)) want = 1u << 20;
    }
    if (c->in_cap - c->in_len < want / 2) {
      size_t cap = c->in_cap ? c->in_cap * 2 : want;
      while (cap - c->in_len < want / 2) cap *= 2;
      c->in = xrealloc(c->in, cap);
      c->in_cap = cap;
    }
    ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n == 0) {
      if (c->state == ST_CLOSING) {
        handshake_done(c);
      } else if (c->state == ST_OPEN) {
        st.closed_by_server++;
        if (cfg.mode == MODE_ECHO || cfg.mode == MODE_FANOUT) st.err_closed++;
        conn_close(c);
      } else {
        handshake_failed(c, "connection closed during handshake");
      }
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      if (c->state == ST_OPEN) {
        st.closed_by_server++;
        if (cfg.mode == MODE_ECHO || cfg.mode == MODE_FANOUT) st.err_closed++;
        conn_close(c);
      } else if (c->state == ST_CLOSING) {
        handshake_done(c); /* reset after our close frame: cycle completed */
      } else {
        handshake_failed(c, strerror(errno));
      }
      return;
    }
    now = mono_ns();
    size_t got = (size_t)n, room = c->in_cap - c->in_len;
    c->in_len += got;
    if (c->state == ST_UPGRADING) {
      ssize_t used = parse_upgrade(c);
      if (used < 0) return;
      if (used == 0) continue;
      memmove(c->in, c->in + used, c->in_len - (size_t)used);
      c->in_len -= (size_t)used;
      if (c->state == ST_OPEN) on_ready(c);
      if (c->state == ST_FREE) return;
    }
    size_t need;
    if (parse_frames(c, &need) < 0) return;
    /* An ack that fell due in this batch and found no m to ride on goes alone. */
    if (c->proto == PROTO_LL && c->state == ST_OPEN && ll_ack_due(c)) queue_ll_ack(c);
    if (need > c->in_cap) {
      c->in = xrealloc(c->in, need + 65536);
      c->in_cap = need + 65536;
    }
    if (got < room) break; /* socket drained */
  }
  if (c->out_len > c->out_off && flush(c) < 0) {
    if (c->state == ST_CLOSING) handshake_done(c);
    else {
      st.closed_by_server++;
      if (cfg.mode == MODE_ECHO || cfg.mode == MODE_FANOUT) st.err_closed++;
      conn_close(c);
    }
  }
}

static void on_event(conn_t *c, uint32_t ev) {
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err || (ev & (EPOLLERR | EPOLLHUP))) {
      if (st.err_connect < 3) fprintf(stderr, "wsgen: connect: %s\n", strerror(err ? err : ECONNREFUSED));
      st.err_connect++;
      conns_failed++;
      conn_close(c);
      return;
    }
    if (ev & EPOLLOUT) send_request(c);
    return;
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
  if (c->state != ST_FREE && (ev & EPOLLOUT) && flush(c) < 0) {
    if (c->state == ST_CLOSING) handshake_done(c);
    else {
      st.closed_by_server++;
      if (cfg.mode == MODE_ECHO || cfg.mode == MODE_FANOUT) st.err_closed++;
      conn_close(c);
    }
  }
}

#define MAX_EVENTS 512
static struct epoll_event evs[MAX_EVENTS];

/* lifeline: send the acks that fell due by time (50 ms after the first
 * unacknowledged envelope) on connections where nothing else carried them.
 * Every 10 ms at most, so holding many idle sessions stays cheap. */
static void ll_ack_sweep(void) {
  static uint64_t last;
  if (cfg.proto != PROTO_LL || cfg.no_ack || now - last < 10000000ull) return;
  last = now;
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    if (c->state != ST_OPEN || c->proto != PROTO_LL || !ll_ack_due(c)) continue;
    queue_ll_ack(c);
    if (flush(c) < 0) {
      st.closed_by_server++;
      if (cfg.mode == MODE_ECHO || cfg.mode == MODE_FANOUT) st.err_closed++;
      conn_close(c);
    }
  }
}

/* One bounded epoll wait; timeout in ms. */
static void poll_once(int timeout_ms) {
  int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
  now = mono_ns();
  if (n < 0) {
    if (errno == EINTR) return;
    die("epoll_wait");
  }
  for (int i = 0; i < n; i++) {
    conn_t *c = evs[i].data.ptr;
    if (c->state != ST_FREE) on_event(c, evs[i].events);
  }
  ll_ack_sweep();
}

static uint64_t secs_ns(double s) { return (uint64_t)(s * 1e9); }

/* Messages in flight on open connections. */
static uint64_t inflight_total(void) {
  uint64_t left = 0;
  for (int i = 0; i < nconns; i++)
    if (conns[i].state == ST_OPEN) left += conns[i].inflight;
  return left;
}

/* Open cfg.conns connections with at most cfg.connect_conc handshakes in
 * progress; returns when every connection is ready or failed, or on timeout. */
static void open_all(void) {
  uint64_t deadline = now + secs_ns(cfg.connect_timeout);
  int next = 0;
  while (conns_ready + conns_failed < nconns && now < deadline) {
    while (next < nconns && next - conns_ready - conns_failed < cfg.connect_conc)
      conn_start(&conns[next++]);
    poll_once(10);
  }
  if (conns_ready + conns_failed < nconns) {
    int pending = nconns - conns_ready - conns_failed;
    fprintf(stderr, "wsgen: %d connections not ready after %.0fs\n", pending, cfg.connect_timeout);
    for (int i = 0; i < nconns; i++)
      if (conns[i].state != ST_FREE && conns[i].state != ST_OPEN) conn_close(&conns[i]);
    st.err_connect += (uint64_t)pending;
    conns_failed += pending;
  }
}

/* ----------------------------------------------------------------- modes */


/* The connection table, every slot closed. */
static void alloc_conns(int n) {
  nconns = n;
  conns = calloc((size_t)nconns, sizeof *conns);
  for (int i = 0; i < nconns; i++) conns[i].id = i, conns[i].fd = -1;
}

/* Allocates cfg.conns connections and opens them all, timing the whole connect phase. */
static void open_conns(void) {
  alloc_conns(cfg.conns);
  uint64_t c0 = now;
  open_all();
  connect_s = (now - c0) / 1e9;
}

static void run_echo(void) {
  open_conns();
  if (!conns_ready) return;
  sending = 1;
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    if (c->state != ST_OPEN) continue;
    for (int k = 0; k < cfg.window; k++) queue_message(c);
    flush(c);
  }
  t0 = now + secs_ns(cfg.warmup);
  t1 = t0 + secs_ns(cfg.duration);
  int started = 0;
  double cpu0 = 0;
  while (now < t1) {
    if (!started && now >= t0) {
      started = 1;
      cpu0 = cpu_seconds();
      event_line("measure-start", NULL);
    }
    uint64_t next = started ? t1 : t0;
    int ms = next > now ? (int)((next - now) / 1000000) + 1 : 0;
    poll_once(ms > 50 ? 50 : ms);
    if (conns_open == 0) break;
  }
  cpu_win = cpu_seconds() - cpu0;
  event_line("measure-end", NULL);
  sending = 0;
  uint64_t drain_end = now + secs_ns(cfg.drain);
  while (inflight_total() && now < drain_end) poll_once(10);
  for (int i = 0; i < nconns; i++) {
    if (conns[i].state == ST_OPEN) st.err_lost += conns[i].inflight;
    conn_close(&conns[i]);
  }
}

static void run_handshake(void) {
  alloc_conns(cfg.concurrency);
  t0 = now + secs_ns(cfg.warmup);
  t1 = t0 + secs_ns(cfg.duration);
  int started = 0;
  double cpu0 = 0;
  uint64_t hard_end = t1 + secs_ns(cfg.drain);
  while (now < hard_end) {
    if (!started && now >= t0) {
      started = 1;
      cpu0 = cpu_seconds();
      event_line("measure-start", NULL);
    }
    if (started == 1 && now >= t1) {
      started = 2;
      cpu_win = cpu_seconds() - cpu0;
      event_line("measure-end", NULL);
    }
    if (now < t1) {
      for (int i = 0; i < nconns; i++)
        if (conns[i].state == ST_FREE) conn_start(&conns[i]);
    } else if (conns_open == 0) {
      break;
    }
    poll_once(5);
    /* A slot stuck for more than 5 s counts as failed. */
    for (int i = 0; i < nconns; i++)
      if (conns[i].state != ST_FREE && now - conns[i].t_begin > secs_ns(5)) {
        st.err_handshake++;
        conn_close(&conns[i]);
      }
  }
  if (started == 1) {
    cpu_win = cpu_seconds() - cpu0;
    event_line("measure-end", NULL);
  }
  for (int i = 0; i < nconns; i++) conn_close(&conns[i]);
}

static void run_fanout(void) {
  alloc_conns(cfg.conns + 1);
  fo.pub = &conns[nconns - 1]; /* connects last */
  fo.pub->is_pub = 1;
  uint64_t c0 = now;
  open_all();
  connect_s = (now - c0) / 1e9;
  fo.subs_at_start = fo.subs_ready;
  if (fo.pub->state != ST_OPEN || !fo.pub->frame || fo.subs_ready == 0) {
    fprintf(stderr, "wsgen: fan-out needs the publisher and at least one subscriber (%d ready)\n", fo.subs_ready);
    return;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "\"subscribers\":%d", fo.subs_ready);
  event_line("ready", buf);
  fo.left = calloc((size_t)cfg.window, sizeof *fo.left);
  fo.sent_at = calloc((size_t)cfg.window, sizeof *fo.sent_at);
  fo.last_progress = now;
  if (cfg.warmup_pubs > 0) {
    fo.phase = 1;
    fo.limit = (uint64_t)cfg.warmup_pubs;
  } else {
    fo_start_measured();
  }
  fo_fill();
  uint64_t stall = secs_ns(cfg.stall);
  while (fo.phase == 1 || fo.phase == 2) {
    if (fo.dirty) {
      fo.dirty = 0;
      if (flush(fo.pub) < 0) break;
    }
    poll_once(10);
    if (fo.pub->state == ST_FREE || sig_stop) break;
    if (now - fo.last_progress > stall) {
      fprintf(stderr, "wsgen: fan-out stalled: nothing completed for %.0f s (%llu of %llu publications done)\n",
              cfg.stall, (unsigned long long)fo.done, (unsigned long long)fo.limit);
      break;
    }
  }
  if (fo.phase != 3) {
    /* Stalled or cut short: whatever is still due counts as lost. */
    for (uint64_t k = fo.done; k < fo.pub->next_send; k++) st.err_lost += fo.left[k % (uint32_t)cfg.window];
    if (fo.phase == 2) {
      cpu_win = cpu_seconds() - fo.cpu0;
      event_line("measure-end", NULL);
    }
    fo.phase = 3;
  }
  /* A short drain: anything arriving now is a duplicate (counted as err_seq). */
  uint64_t drain_end = now + secs_ns(0.2);
  while (now < drain_end && !sig_stop) poll_once(10);
  for (int i = 0; i < nconns; i++) {
    conns[i].ready = 0;
    conn_close(&conns[i]);
  }
}

static void on_signal(int sig) {
  if (sig == SIGUSR1) sig_stats = 1;
  else sig_stop = 1;
}

static void stats_event(const char *name) {
  char buf[384];
  snprintf(buf, sizeof buf,
           "\"open\":%d,\"pings\":%llu,\"eio_pings\":%llu,\"closed_by_server\":%llu,\"cpu_s\":%.3f,"
           "\"sent\":%llu,\"echoes\":%llu,\"acks_sent\":%llu,\"integrity_errors\":%llu",
           conns_open, (unsigned long long)st.pings, (unsigned long long)st.eio_pings,
           (unsigned long long)st.closed_by_server, cpu_seconds(), (unsigned long long)st.sent,
           (unsigned long long)st.recv, (unsigned long long)(st.ll_acks_riding + st.ll_acks_alone),
           (unsigned long long)(st.err_seq + st.err_opcode + st.err_len + st.err_payload + st.err_lost +
                                st.err_protocol));
  event_line(name, buf);
}

/* Idle mode with --idle-msgs: wait until every connection got the echoes of
 * its messages. Lifeline: then acknowledge them at once (unless --no-ack), so
 * that the server's replay buffers are empty (or hold exactly the echoes)
 * when the caller samples the server. */
static void idle_exchange(void) {
  uint64_t deadline = now + secs_ns(cfg.connect_timeout);
  while (inflight_total() && now < deadline && !sig_stop) poll_once(10);
  uint64_t left = inflight_total();
  if (left) fprintf(stderr, "wsgen: %llu idle-mode echoes missing\n", (unsigned long long)left);
  st.err_lost += left;
  if (cfg.proto != PROTO_LL || cfg.no_ack) return;
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    if (c->state != ST_OPEN || !c->ll_pending) continue;
    queue_ll_ack(c);
    if (flush(c) < 0) {
      st.closed_by_server++;
      conn_close(c);
    }
  }
}

static void run_idle(void) {
  open_conns();
  if (cfg.idle_msgs > 0) idle_exchange();
  stats_event("ready");
  uint64_t end = now + secs_ns(cfg.hold);
  double cpu0 = cpu_seconds();
  while (now < end && !sig_stop) {
    poll_once(200);
    if (sig_stats) {
      sig_stats = 0;
      stats_event("stats");
    }
  }
  cpu_win = cpu_seconds() - cpu0;
  for (int i = 0; i < nconns; i++) conn_close(&conns[i]);
}

/* ------------------------------------------------------------------ main */

static void usage(void) {
  fprintf(stderr,
          "usage: wsgen --mode echo|handshake|idle|fanout --port P [--host H] [--path /p]\n"
          "  [--proto ws|raw|eio|lifeline] [--conns N] [--window W] [--size BYTES] [--text]\n"
          "  [--warmup S] [--duration S] [--drain S] [--concurrency C]\n"
          "  [--connect-concurrency C] [--connect-timeout S] [--hold S] [--src-ips K]\n"
          "  [--close clean|fin] [--ack-every N] [--idle-msgs N] [--no-ack]\n"
          "  --proto lifeline: Lifeline mode (lifeline.v1, JSON); --size is the length of d\n"
          "  [--format json|msgpack] [--payload d|b|bin]: lifeline.v1.msgpack, and the payload as\n"
          "  bytes in b (base64 in JSON mode; --size bytes), in echo and idle modes; bin: JSON\n"
          "  mode's binary form (PROTOCOL.md 2.8), b's bytes after the head and a 0x00 byte\n"
          "  fanout: --conns N subscribers on --path, one publisher on --pub-path speaking\n"
          "  --pub-proto ws|raw|eio (default --proto); --window publications in flight,\n"
          "  --warmup-pubs U then --pubs P measured, --stall S (no progress: give up)\n");
  exit(2);
}

int main(int argc, char **argv) {
  static struct option opts[] = {
      {"mode", 1, 0, 'm'},     {"proto", 1, 0, 'P'},    {"host", 1, 0, 'h'},
      {"port", 1, 0, 'p'},     {"path", 1, 0, 'u'},     {"conns", 1, 0, 'n'},
      {"window", 1, 0, 'w'},   {"size", 1, 0, 's'},     {"text", 0, 0, 't'},
      {"warmup", 1, 0, 'W'},   {"duration", 1, 0, 'd'}, {"drain", 1, 0, 'D'},
      {"concurrency", 1, 0, 'c'}, {"connect-concurrency", 1, 0, 'C'},
      {"connect-timeout", 1, 0, 'T'}, {"hold", 1, 0, 'H'}, {"src-ips", 1, 0, 'i'},
      {"close", 1, 0, 'x'},    {"ack-every", 1, 0, 'A'}, {"idle-msgs", 1, 0, 'I'},
      {"no-ack", 0, 0, 'N'},   {"pub-proto", 1, 0, 'Q'}, {"pub-path", 1, 0, 'U'},
      {"pubs", 1, 0, 'B'},     {"warmup-pubs", 1, 0, 'V'}, {"stall", 1, 0, 'S'},
      {"format", 1, 0, 'F'},   {"payload", 1, 0, 'L'},
      {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'm':
      if (!strcmp(optarg, "echo")) cfg.mode = MODE_ECHO;
      else if (!strcmp(optarg, "handshake")) cfg.mode = MODE_HANDSHAKE;
      else if (!strcmp(optarg, "idle")) cfg.mode = MODE_IDLE;
      else if (!strcmp(optarg, "fanout")) cfg.mode = MODE_FANOUT;
      else usage();
      break;
    case 'P':
      if (!strcmp(optarg, "ws")) cfg.proto = PROTO_WS;
      else if (!strcmp(optarg, "raw")) cfg.proto = PROTO_RAW;
      else if (!strcmp(optarg, "eio")) cfg.proto = PROTO_EIO;
      else if (!strcmp(optarg, "lifeline")) cfg.proto = PROTO_LL;
      else usage();
      break;
    case 'h': cfg.host = optarg; break;
    case 'p': cfg.port = atoi(optarg); break;
    case 'u': cfg.path = optarg; break;
    case 'n': cfg.conns = atoi(optarg); break;
    case 'w': cfg.window = atoi(optarg); break;
    case 's': cfg.size = atoi(optarg); break;
    case 't': cfg.opcode = 1; break;
    case 'W': cfg.warmup = atof(optarg); break;
    case 'd': cfg.duration = atof(optarg); break;
    case 'D': cfg.drain = atof(optarg); break;
    case 'c': cfg.concurrency = atoi(optarg); break;
    case 'C': cfg.connect_conc = atoi(optarg); break;
    case 'T': cfg.connect_timeout = atof(optarg); break;
    case 'H': cfg.hold = atof(optarg); break;
    case 'i': cfg.src_ips = atoi(optarg); break;
    case 'x':
      if (!strcmp(optarg, "fin")) cfg.close_fin = 1;
      else if (!strcmp(optarg, "clean")) cfg.close_fin = 0;
      else usage();
      break;
    case 'A': cfg.ack_every = atoi(optarg); break;
    case 'I': cfg.idle_msgs = atoi(optarg); break;
    case 'N': cfg.no_ack = 1; break;
    case 'Q':
      if (!strcmp(optarg, "ws")) cfg.pub_proto = PROTO_WS;
      else if (!strcmp(optarg, "raw")) cfg.pub_proto = PROTO_RAW;
      else if (!strcmp(optarg, "eio")) cfg.pub_proto = PROTO_EIO;
      else usage(); /* the publisher sends plain messages: not Lifeline mode */
      break;
    case 'U': cfg.pub_path = optarg; break;
    case 'B': cfg.pubs = atoi(optarg); break;
    case 'V': cfg.warmup_pubs = atoi(optarg); break;
    case 'S': cfg.stall = atof(optarg); break;
    case 'F':
      if (!strcmp(optarg, "msgpack")) cfg.ll_msgpack = 1;
      else if (strcmp(optarg, "json")) usage();
      break;
    case 'L':
      if (!strcmp(optarg, "b")) cfg.ll_bytes = 1;
      else if (!strcmp(optarg, "bin")) cfg.ll_bytes = cfg.ll_binform = 1;
      else if (strcmp(optarg, "d")) usage();
      break;
    default: usage();
    }
  }
  if (cfg.port <= 0 || cfg.conns <= 0 || cfg.window <= 0 || cfg.concurrency <= 0 ||
      cfg.connect_conc <= 0 || cfg.src_ips < 1 || cfg.src_ips > 250 || cfg.duration <= 0 ||
      cfg.duration > 3600 || cfg.hold > 7200 || cfg.warmup < 0 || cfg.ack_every < 1 ||
      cfg.idle_msgs < 0 || cfg.pubs < 1 || cfg.warmup_pubs < 0 || cfg.stall <= 0)
    usage();
  if (cfg.pub_proto < 0) cfg.pub_proto = cfg.proto;
  if (!cfg.pub_path) cfg.pub_path = cfg.path;
  if (cfg.mode == MODE_FANOUT && cfg.pub_proto == PROTO_LL) usage();
  /* --format and --payload: Lifeline mode, echo and idle only (fan-out speaks JSON and d) */
  if ((cfg.ll_msgpack || cfg.ll_bytes) && (cfg.proto != PROTO_LL || cfg.mode == MODE_FANOUT || cfg.mode == MODE_HANDSHAKE)) usage();
  if (cfg.ll_binform && cfg.ll_msgpack) usage(); /* the binary form is JSON mode's */
  if (cfg.proto == PROTO_EIO || cfg.proto == PROTO_LL) cfg.opcode = cfg.ll_msgpack ? 2 : 1; /* text only, or binary MessagePack */
  /* Fan-out: text frames, because a Lifeline server publishes a string as text. */
  if (cfg.mode == MODE_FANOUT) cfg.opcode = 1;
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)cfg.port);
  if (inet_pton(AF_INET, cfg.host, &dst.sin_addr) != 1) usage();

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);

  init_hexval();
  build_template(cfg.mode == MODE_FANOUT ? cfg.pub_proto : cfg.proto);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  now = mono_ns();
  t0 = t1 = UINT64_MAX;
  uint64_t start = now;

  const char *mode = "echo";
  if (cfg.mode == MODE_ECHO) run_echo();
  else if (cfg.mode == MODE_HANDSHAKE) mode = "handshake", run_handshake();
  else if (cfg.mode == MODE_FANOUT) mode = "fanout", run_fanout();
  else mode = "idle", run_idle();

  static const char *protos[] = {"ws", "raw", "eio", "lifeline"};
  /* lifeline: our m envelopes the server had not acknowledged at the end */
  uint64_t ll_unacked = 0;
  for (int i = 0; i < nconns; i++) ll_unacked += conns[i].next_send - conns[i].ll_server_acked;
  uint64_t integrity = st.err_seq + st.err_opcode + st.err_len + st.err_payload +
                       st.err_lost + st.err_closed + st.err_protocol;
  int setup_failed = (cfg.mode != MODE_HANDSHAKE && conns_ready == 0) ||
                     (cfg.mode == MODE_HANDSHAKE && st.handshakes == 0) ||
                     (cfg.mode == MODE_FANOUT && fo.phase == 0);
  double win = cfg.duration;
  /* Fan-out: the window runs from the first measured publication to its last delivery. */
  if (cfg.mode == MODE_FANOUT) win = fo.t_last > fo.t_first ? (fo.t_last - fo.t_first) / 1e9 : 0;
  char fanout[512] = "";
  if (cfg.mode == MODE_FANOUT)
    snprintf(fanout, sizeof fanout,
             ",\"fanout\":{\"subscribers\":%d,\"subscribed\":%d,\"publications\":%d,\"warmup_publications\":%d,"
             "\"window\":%d,\"completed\":%llu,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,\"total_ms\":%.3f,"
             "\"reach_all_us\":{\"samples\":%llu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}}",
             cfg.conns, fo.subs_at_start, cfg.pubs, cfg.warmup_pubs, cfg.window,
             (unsigned long long)(fo.done > (uint64_t)cfg.warmup_pubs ? fo.done - (uint64_t)cfg.warmup_pubs : 0),
             (unsigned long long)st.win_recv, win > 0 ? st.win_recv / win : 0, win * 1e3,
             (unsigned long long)reach.count, hist_pct(&reach, 0.5) / 1e3, hist_pct(&reach, 0.9) / 1e3,
             hist_pct(&reach, 0.99) / 1e3, reach.max / 1e3);
  printf("{\"ok\":%s,\"mode\":\"%s\",\"proto\":\"%s\",\"conns\":%d,\"ready\":%d,"
         "\"window\":%d,\"size\":%d,\"opcode\":%d,\"concurrency\":%d,"
         "\"duration_s\":%.3f,\"connect_s\":%.3f,\"elapsed_s\":%.3f,"
         "\"messages\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,"
         "\"handshakes\":%llu,\"handshakes_per_s\":%.1f,"
         "\"latency_us\":{\"samples\":%llu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f},"
         "\"pings\":%llu,\"eio_pings\":%llu,\"pongs_sent\":%llu,\"closed_by_server\":%llu,"
         "\"unexpected_data\":%llu,\"sent_total\":%llu,\"recv_total\":%llu,"
         "\"cpu_s\":%.3f,\"cpu_pct\":%.1f,"
         "\"errors\":{\"seq\":%llu,\"opcode\":%llu,\"length\":%llu,\"payload\":%llu,"
         "\"lost\":%llu,\"closed\":%llu,\"protocol\":%llu,\"handshake\":%llu,"
         "\"connect\":%llu,\"io\":%llu},\"integrity_errors\":%llu,"
         "\"lifeline\":{\"format\":\"%s\",\"payload\":\"%s\",\"acks_riding\":%llu,\"acks_alone\":%llu,\"server_acks\":%llu,"
         "\"unacked_by_server\":%llu}%s}\n",
         setup_failed ? "false" : "true", mode, protos[cfg.proto],
         cfg.mode == MODE_HANDSHAKE ? 0 : cfg.conns, conns_ready, cfg.window, cfg.size,
         cfg.opcode, cfg.concurrency, win, connect_s, (mono_ns() - start) / 1e9,
         (unsigned long long)st.win_recv, win > 0 ? st.win_recv / win : 0, win > 0 ? st.win_bytes / win / 1e6 : 0,
         (unsigned long long)st.win_handshakes, st.win_handshakes / win,
         (unsigned long long)lat.count, hist_pct(&lat, 0.5) / 1e3, hist_pct(&lat, 0.9) / 1e3,
         hist_pct(&lat, 0.99) / 1e3, lat.max / 1e3, (unsigned long long)st.pings,
         (unsigned long long)st.eio_pings, (unsigned long long)st.pongs_sent,
         (unsigned long long)st.closed_by_server, (unsigned long long)st.unexpected_data,
         (unsigned long long)st.sent, (unsigned long long)st.recv, cpu_win,
         cfg.mode == MODE_IDLE || win <= 0 ? 0 : 100.0 * cpu_win / win,
         (unsigned long long)st.err_seq, (unsigned long long)st.err_opcode,
         (unsigned long long)st.err_len, (unsigned long long)st.err_payload,
         (unsigned long long)st.err_lost, (unsigned long long)st.err_closed,
         (unsigned long long)st.err_protocol, (unsigned long long)st.err_handshake,
         (unsigned long long)st.err_connect, (unsigned long long)st.err_io,
         (unsigned long long)integrity, cfg.ll_msgpack ? "msgpack" : "json", cfg.ll_binform ? "bin" : cfg.ll_bytes ? "b" : "d",
         (unsigned long long)st.ll_acks_riding,
         (unsigned long long)st.ll_acks_alone, (unsigned long long)st.ll_server_acks,
         (unsigned long long)(cfg.proto == PROTO_LL ? ll_unacked : 0), fanout);
  fflush(stdout);
  if (setup_failed) return 2;
  return integrity ? 1 : 0;
}
