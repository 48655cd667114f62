/* libFuzzer target for the power readers' value parsers: any bytes, taken as a PSI line, as an
 * integer attribute, as a temperature, as a trip type and as a hwmon input file name, are either
 * rejected with the output untouched or accepted with every value inside its documented range. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "power-sysfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;

        if (size > 2 * POWER_SYSFS_READ_MAX)
                return 0;

        PowerPressure p = { .avg10 = -1, .avg60 = -1, .avg300 = -1, .total_usec = 7 };
        int r = power_parse_pressure_line(text, size, &p);
        if (r == POWER_PRESSURE_SOME || r == POWER_PRESSURE_FULL) {
                if (!(p.avg10 >= 0 && p.avg10 <= 100) || !(p.avg60 >= 0 && p.avg60 <= 100) ||
                    !(p.avg300 >= 0 && p.avg300 <= 100))
                        abort();
                if (size < 4 || memcmp(text, r == POWER_PRESSURE_SOME ? "some" : "full", 4) != 0)
                        abort();
        } else if (r != -EINVAL || p.avg10 != -1 || p.avg60 != -1 || p.avg300 != -1 || p.total_usec != 7)
                abort();

        int64_t v = 12345;
        r = power_parse_int(text, size, &v);
        if (r == 0) {
                if (size == 0 || (size > 20 + 1))
                        abort(); /* at most '-', 19 digits and a newline */
        } else if ((r != -EINVAL && r != -ERANGE) || v != 12345)
                abort();

        int64_t mc = 12345;
        r = power_parse_millicelsius(text, size, &mc);
        if (r == 0) {
                if (mc < 0 || mc > POWER_TEMP_MAX_MC)
                        abort();
        } else if ((r != -EINVAL && r != -ERANGE) || mc != 12345)
                abort();

        PowerTripType t = power_parse_trip_type(text, size);
        if (t != _POWER_TRIP_INVALID && (t < 0 || t >= _POWER_TRIP_MAX))
                abort();

        unsigned index = 12345678;
        r = power_parse_hwmon_input_name(text, size, &index);
        if (r == 0) {
                if (index < 1 || index > POWER_HWMON_INDEX_MAX)
                        abort();
                if (size < 11 || memcmp(text, "temp", 4) != 0 || memcmp(text + size - 6, "_input", 6) != 0)
                        abort();
        } else if (r != -EINVAL || index != 12345678)
                abort();
        return 0;
}
