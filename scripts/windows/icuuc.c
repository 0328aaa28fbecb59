/*
 * Test-lane stand-in for Windows' system icuuc.dll (Windows 10 1703 and later ship it in
 * System32; Wine 8.0 does not).
 *
 * Why: Qt 6.10+ for Windows links to the system ICU, so Qt6Core.dll will not load under Wine 8
 * without an icuuc.dll. Qt6Core imports from it only the ucnv_* converter functions that back
 * its non-Unicode text codecs (QStringConverter for legacy encodings). Here every converter open
 * fails with U_FILE_ACCESS_ERROR ("ICU data not found"), which Qt handles: it keeps to its
 * built-in UTF-8/16/32 and Latin-1 codecs, all the product uses. The signatures follow the ICU4C
 * API reference ("ucnv.h: C API: Character conversion", "ucnv_cb.h"); opaque types are void.
 * scripts/test-windows.sh builds it with mingw and puts it in the Wine prefix's system32 only;
 * it is never shipped with the product.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o icuuc.dll icuuc.c
 */
#include <stddef.h>
#include <stdint.h>

#define EXPORT __declspec(dllexport)

typedef int UErrorCode;       /* ICU: <= 0 success, > 0 failure */
typedef uint16_t UChar;
typedef int8_t UBool;
typedef void UConverter;
typedef void (*UCallback)(void);

enum { U_FILE_ACCESS_ERROR = 4 };

static void fail(UErrorCode *err)
{
    if (err && *err <= 0)
        *err = U_FILE_ACCESS_ERROR;
}

EXPORT UConverter *ucnv_open(const char *name, UErrorCode *err)
{
    (void)name;
    fail(err);
    return NULL;
}

EXPORT void ucnv_close(UConverter *conv) { (void)conv; }
EXPORT void ucnv_reset(UConverter *conv) { (void)conv; }
EXPORT int8_t ucnv_getMaxCharSize(const UConverter *conv) { (void)conv; return 1; }
EXPORT int32_t ucnv_countAvailable(void) { return 0; }
EXPORT const char *ucnv_getAvailableName(int32_t n) { (void)n; return NULL; }

EXPORT const char *ucnv_getName(const UConverter *conv, UErrorCode *err)
{
    (void)conv;
    fail(err);
    return NULL;
}

EXPORT const char *ucnv_getStandardName(const char *name, const char *standard, UErrorCode *err)
{
    (void)name; (void)standard;
    fail(err);
    return NULL;
}

EXPORT void ucnv_getToUCallBack(const UConverter *conv, UCallback *action, const void **context)
{
    (void)conv;
    if (action) *action = NULL;
    if (context) *context = NULL;
}

EXPORT void ucnv_getFromUCallBack(const UConverter *conv, UCallback *action, const void **context)
{
    ucnv_getToUCallBack(conv, action, context);
}

EXPORT void ucnv_setToUCallBack(UConverter *conv, UCallback action, const void *context,
                                UCallback *old_action, const void **old_context, UErrorCode *err)
{
    (void)conv; (void)action; (void)context;
    ucnv_getToUCallBack(conv, old_action, old_context);
    fail(err);
}

EXPORT void ucnv_setFromUCallBack(UConverter *conv, UCallback action, const void *context,
                                  UCallback *old_action, const void **old_context, UErrorCode *err)
{
    ucnv_setToUCallBack(conv, action, context, old_action, old_context, err);
}

EXPORT void ucnv_toUnicode(UConverter *conv, UChar **target, const UChar *target_limit,
                           const char **source, const char *source_limit, int32_t *offsets,
                           UBool flush, UErrorCode *err)
{
    (void)conv; (void)target; (void)target_limit; (void)source; (void)source_limit;
    (void)offsets; (void)flush;
    fail(err);
}

EXPORT void ucnv_fromUnicode(UConverter *conv, char **target, const char *target_limit,
                             const UChar **source, const UChar *source_limit, int32_t *offsets,
                             UBool flush, UErrorCode *err)
{
    (void)conv; (void)target; (void)target_limit; (void)source; (void)source_limit;
    (void)offsets; (void)flush;
    fail(err);
}

EXPORT int32_t ucnv_toUCountPending(const UConverter *conv, UErrorCode *err)
{
    (void)conv;
    fail(err);
    return 0;
}

EXPORT int32_t ucnv_fromUCountPending(const UConverter *conv, UErrorCode *err)
{
    return ucnv_toUCountPending(conv, err);
}

EXPORT void ucnv_cbToUWriteUChars(void *args, const UChar *source, int32_t length,
                                  int32_t offset_index, UErrorCode *err)
{
    (void)args; (void)source; (void)length; (void)offset_index;
    fail(err);
}

EXPORT void ucnv_cbFromUWriteUChars(void *args, const UChar **source, const UChar *source_limit,
                                    int32_t offset_index, UErrorCode *err)
{
    (void)args; (void)source; (void)source_limit; (void)offset_index;
    fail(err);
}

/* The standard callbacks: converters never open here, so they are never called. */
EXPORT void UCNV_FROM_U_CALLBACK_SUBSTITUTE(void) {}
EXPORT void UCNV_TO_U_CALLBACK_SUBSTITUTE(void) {}
