/* gemmactl output: any D-Bus value as JSON (properties, info dictionaries), the JSON printer, and
 * the human forms of byte counts and generation statistics. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "gemmactl.h"

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static int json_from_basic(sd_bus_message *m, char type, json_object **ret) {
        union {
                uint8_t u8;
                int16_t i16;
                uint16_t u16;
                int32_t i32;
                uint32_t u32;
                int64_t i64;
                uint64_t u64;
                double d;
                int b;
                const char *s;
        } v;
        int r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        json_object *o;
        switch (type) {
        case 'y': o = json_object_new_int(v.u8); break;
        case 'n': o = json_object_new_int(v.i16); break;
        case 'q': o = json_object_new_int(v.u16); break;
        case 'i': o = json_object_new_int(v.i32); break;
        case 'h': o = json_object_new_int(v.i32); break;
        case 'u': o = json_object_new_int64(v.u32); break;
        case 'x': o = json_object_new_int64(v.i64); break;
        case 't': o = json_object_new_uint64(v.u64); break;
        case 'd': o = isfinite(v.d) ? json_object_new_double(v.d) : NULL; break;
        case 'b': o = json_object_new_boolean(v.b); break;
        case 's':
        case 'o':
        case 'g': o = json_object_new_string(v.s); break;
        default: return -EBADMSG;
        }
        if (!o && !(type == 'd' && !isfinite(v.d)))
                return -ENOMEM;
        *ret = o;
        return 0;
}

int json_from_message(sd_bus_message *m, json_object **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO; /* nothing left */

        if (type == SD_BUS_TYPE_VARIANT) {
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                r = json_from_message(m, ret);
                if (r < 0)
                        return r;
                return sd_bus_message_exit_container(m);
        }

        if (type == SD_BUS_TYPE_ARRAY && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN) {
                _cleanup_(json_putp) json_object *obj = json_object_new_object();
                if (!obj)
                        return -ENOMEM;
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                for (;;) {
                        const char *entry;
                        r = sd_bus_message_peek_type(m, NULL, &entry);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry);
                        if (r < 0)
                                return r;
                        _cleanup_(json_putp) json_object *key = NULL, *value = NULL;
                        r = json_from_message(m, &key);
                        if (r < 0)
                                return r;
                        r = json_from_message(m, &value);
                        if (r < 0)
                                return r;
                        /* Keys are basic types; non-string ones become their JSON text. */
                        const char *k = json_object_is_type(key, json_type_string) ? json_object_get_string(key)
                                                                                   : json_object_to_json_string(key);
                        r = json_object_object_add(obj, k ?: "", TAKE_PTR(value));
                        if (r < 0)
                                return -ENOMEM;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(obj);
                return 0;
        }

        if (type == SD_BUS_TYPE_ARRAY || type == SD_BUS_TYPE_STRUCT) {
                _cleanup_(json_putp) json_object *arr = json_object_new_array();
                if (!arr)
                        return -ENOMEM;
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                for (;;) {
                        r = sd_bus_message_peek_type(m, NULL, NULL);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        _cleanup_(json_putp) json_object *item = NULL;
                        r = json_from_message(m, &item);
                        if (r < 0)
                                return r;
                        if (json_object_array_add(arr, item) < 0)
                                return -ENOMEM;
                        item = NULL;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(arr);
                return 0;
        }

        return json_from_basic(m, type, ret);
}

int json_print(json_object *o) {
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (isatty(STDOUT_FILENO) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
        const char *s = json_object_to_json_string_ext(o, flags);
        if (!s)
                return -ENOMEM;
        fputs(s, stdout);
        fputc('\n', stdout);
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -EIO;
}

const char *json_get_string(json_object *o, const char *key) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

bool json_get_uint64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_uint64(v);
        return true;
}

bool json_get_double(json_object *o, const char *key, double *ret) {
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v))
                return false;
        if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_double(v);
        return true;
}

char *format_bytes(uint64_t bytes, char buf[static 32]) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        if (bytes < 1024) {
                snprintf(buf, 32, "%" PRIu64 " B", bytes);
                return buf;
        }
        double v = (double) bytes;
        size_t i = 0;
        v /= 1024;
        while (v >= 1024 && i + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                i++;
        }
        snprintf(buf, 32, "%.1f %s", v, units[i]);
        return buf;
}

void info_print_stats(FILE *f, json_object *info) {
        uint64_t prompt = 0, cached = 0, generated = 0;
        double ttft, prefill, decode;
        const char *reason = json_get_string(info, "finish_reason"), *slice = json_get_string(info, "slice");

        if (json_get_uint64(info, "tokens_prompt", &prompt)) {
                if (json_get_uint64(info, "tokens_cached", &cached) && cached > 0)
                        fprintf(f, "prompt tokens:     %" PRIu64 " (%" PRIu64 " from the cache)\n", prompt, cached);
                else
                        fprintf(f, "prompt tokens:     %" PRIu64 "\n", prompt);
        }
        if (json_get_uint64(info, "tokens_generated", &generated))
                fprintf(f, "generated tokens:  %" PRIu64 " (finish: %s)\n", generated, reason ?: "unknown");
        else if (reason)
                fprintf(f, "finish:            %s\n", reason);
        if (json_get_double(info, "ttft_ms", &ttft))
                fprintf(f, "time to first:     %.1f ms\n", ttft);
        if (json_get_double(info, "prefill_tps", &prefill))
                fprintf(f, "prefill:           %.2f tokens/s\n", prefill);
        if (json_get_double(info, "decode_tps", &decode))
                fprintf(f, "decode:            %.2f tokens/s\n", decode);
        if (slice)
                fprintf(f, "slice:             %s\n", slice);
        fflush(f);
}
