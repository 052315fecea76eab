/*
 * vectors_test.c - native harness for the shared msgpack vectors
 * (tests/testdata/vectors.json). tests/vectors_test.go converts the vectors to
 * a line format (described there), builds this file with
 *     gcc -std=c11 -DWASMNET_CODEC_ONLY -I guest/c guest/c/vectors_test.c guest/c/wasmnet.c
 * runs it on that file and compares its output. For every input line
 *     name TAB hex TAB tokens
 * it prints
 *     name TAB hex(encode(decode(hex))) TAB hex(encode(tokens)) TAB tokens(decode(hex))
 * or name TAB ERR TAB - TAB - when the bytes are not exactly one value.
 */
#define _POSIX_C_SOURCE 200809L
#include "wasmnet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg, const char *name)
{
	fprintf(stderr, "vectors_test: %s: %s\n", name, msg);
	exit(2);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* unhex decodes n hex digits at s into a new buffer. */
static uint8_t *unhex(const char *s, size_t n, size_t *out_len, const char *name)
{
	if (n % 2)
		die("odd hex length", name);
	uint8_t *b = malloc(n / 2 + 1);
	if (!b)
		die("out of memory", name);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			die("bad hex", name);
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out_len = n / 2;
	return b;
}

static void puthex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* encode_tokens writes every token with the matching writer call. */
static void encode_tokens(char *toks, wasmnet_writer *w, const char *name)
{
	for (char *t = strtok(toks, " "); t; t = strtok(NULL, " ")) {
		size_t n;
		uint8_t *b;
		if (!strcmp(t, "n"))
			wasmnet_write_nil(w);
		else if (!strcmp(t, "t"))
			wasmnet_write_bool(w, true);
		else if (!strcmp(t, "f"))
			wasmnet_write_bool(w, false);
		else if (!strncmp(t, "i:", 2))
			wasmnet_write_int(w, strtoll(t + 2, NULL, 10));
		else if (!strncmp(t, "u:", 2))
			wasmnet_write_uint(w, strtoull(t + 2, NULL, 10));
		else if (!strncmp(t, "f32:", 4)) {
			uint32_t bits = (uint32_t)strtoul(t + 4, NULL, 16);
			float f;
			memcpy(&f, &bits, 4);
			wasmnet_write_f32(w, f);
		} else if (!strncmp(t, "f64:", 4)) {
			uint64_t bits = strtoull(t + 4, NULL, 16);
			double d;
			memcpy(&d, &bits, 8);
			wasmnet_write_f64(w, d);
		} else if (!strncmp(t, "s:", 2) || !strncmp(t, "b:", 2)) {
			b = unhex(t + 2, strlen(t + 2), &n, name);
			if (t[0] == 's')
				wasmnet_write_str(w, (const char *)b, n);
			else
				wasmnet_write_bin(w, b, n);
			free(b);
		} else if (!strncmp(t, "a:", 2))
			wasmnet_write_array(w, (uint32_t)strtoul(t + 2, NULL, 10));
		else if (!strncmp(t, "m:", 2))
			wasmnet_write_map(w, (uint32_t)strtoul(t + 2, NULL, 10));
		else if (!strncmp(t, "c:", 2))
			wasmnet_write_chan_handle(w, (uint32_t)strtoul(t + 2, NULL, 10));
		else if (!strncmp(t, "x:", 2)) {
			char *colon;
			long typ = strtol(t + 2, &colon, 10);
			if (*colon != ':')
				die("bad ext token", name);
			b = unhex(colon + 1, strlen(colon + 1), &n, name);
			wasmnet_write_ext(w, (int8_t)typ, b, n);
			free(b);
		} else
			die("bad token", name);
	}
}

/* print_tokens decodes every item of the message and prints it as tokens. */
static int print_tokens(const uint8_t *msg, size_t len)
{
	wasmnet_reader r;
	wasmnet_item it;
	wasmnet_reader_init(&r, msg, len);
	for (int first = 1; !wasmnet_at_end(&r); first = 0) {
		if (wasmnet_read(&r, &it))
			return -1;
		if (!first)
			putchar(' ');
		switch (it.type) {
		case WASMNET_NIL: printf("n"); break;
		case WASMNET_BOOL: printf(it.v.b ? "t" : "f"); break;
		case WASMNET_INT: printf("i:%" PRId64, it.v.i); break;
		case WASMNET_UINT: printf("u:%" PRIu64, it.v.u); break;
		case WASMNET_F32: {
			uint32_t bits;
			memcpy(&bits, &it.v.f32, 4);
			printf("f32:%08" PRIx32, bits);
			break;
		}
		case WASMNET_F64: {
			uint64_t bits;
			memcpy(&bits, &it.v.f64, 8);
			printf("f64:%016" PRIx64, bits);
			break;
		}
		case WASMNET_STR: printf("s:"); puthex(it.data, it.len); break;
		case WASMNET_BIN: printf("b:"); puthex(it.data, it.len); break;
		case WASMNET_ARRAY: printf("a:%" PRIu32, it.v.n); break;
		case WASMNET_MAP: printf("m:%" PRIu32, it.v.n); break;
		case WASMNET_CHAN: printf("c:%" PRIu32, it.v.chan); break;
		case WASMNET_EXT: printf("x:%d:", it.ext_type); puthex(it.data, it.len); break;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: vectors_test FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	wasmnet_writer w = {0};
	while ((got = getline(&line, &cap, f)) > 0) {
		if (line[got - 1] == '\n')
			line[--got] = 0;
		char *name = line, *hx = strchr(line, '\t');
		if (!hx)
			die("no tab", name);
		*hx++ = 0;
		char *toks = strchr(hx, '\t');
		if (!toks)
			die("no second tab", name);
		*toks++ = 0;

		size_t len;
		uint8_t *msg = unhex(hx, strlen(hx), &len, name);

		/* decode + re-encode: exactly one value, nothing after it */
		wasmnet_reader r;
		wasmnet_reader_init(&r, msg, len);
		wasmnet_writer_reset(&w);
		int rc = wasmnet_copy(&r, &w);
		if (rc || !wasmnet_at_end(&r)) {
			printf("%s\tERR\t-\t-\n", name);
			free(msg);
			continue;
		}
		printf("%s\t", name);
		puthex(w.data, w.len);
		putchar('\t');

		if (strcmp(toks, "ERR")) {
			wasmnet_writer_reset(&w);
			encode_tokens(toks, &w, name);
			if (w.err)
				die(wasmnet_strerror(w.err), name);
			puthex(w.data, w.len);
		} else
			putchar('-');
		putchar('\t');
		if (print_tokens(msg, len))
			die("print_tokens failed after a good copy", name);
		putchar('\n');
		free(msg);
	}
	wasmnet_writer_free(&w);
	free(line);
	fclose(f);
	return 0;
}
