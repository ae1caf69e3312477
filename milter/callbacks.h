/*
 * callbacks: the libmilter callback table of smime-acme-milter.  main.c
 * calls callbacks_desc() once, after the application state is complete
 * and before smfi_main(); the state is read-only from then on.
 */
#ifndef MILTER_CALLBACKS_H
#define MILTER_CALLBACKS_H

#include <libmilter/mfapi.h>

#include "milter/ctx.h"

/* The filter description for smfi_register(); app must outlive smfi_main
 * and must not change once this is called. */
struct smfiDesc callbacks_desc(const struct milter_app *app);

#endif
