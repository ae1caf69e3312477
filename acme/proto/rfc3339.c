/*
 * rfc3339: RFC 3339 date-time parsing (see rfc3339.h).  Moved out of
 * json.c, which calls it for every time member of a CA reply.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "acme/proto/rfc3339.h"

/* Exactly n decimal digits at *p into *out, advancing *p.  0 / -1. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	while (n-- > 0) {
		if (**p < '0' || **p > '9') {
			return -1;
		}
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

/* Days in month mo (1..12) of year y (RFC 3339 Appendix C). */
static int
month_days(int y, int mo)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return mo == 2 && leap ? 29 : days[mo - 1];
}

int
rfc3339_parse(const char *s, time_t *out)
{
	struct tm tm;
	const char *p = s;
	int y, mo, d, h, mi, se, oh, om, sign;
	time_t t;

	if (s == NULL) {
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't')) {
		return -1;
	}
	p++;
	if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 ||
	    *p++ != ':' || digits(&p, 2, &se) < 0) {
		return -1;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9') {
			return -1;
		}
		while (*p >= '0' && *p <= '9') {
			p++;
		}
	}
	oh = om = 0;
	sign = 1;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh) < 0 || *p++ != ':' ||
		    digits(&p, 2, &om) < 0) {
			return -1;
		}
	} else {
		return -1;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) ||
	    h > 23 || mi > 59 || se > 60) {
		return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) == (time_t)-1) {
		return -1;
	}
	*out = t - sign * (oh * 3600 + om * 60);
	return 0;
}
