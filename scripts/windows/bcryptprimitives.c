/*
 * Test-lane stand-in for Windows' bcryptprimitives.dll (Windows 8 and later ship it in System32).
 *
 * Why: the cryptography wheel's Rust core imports ProcessPrng from bcryptprimitives.dll, which
 * Wine 8.0 does not provide, so `import cryptography` fails under Wine before any test runs.
 * This DLL exports ProcessPrng on top of advapi32's RtlGenRandom (SystemFunction036), the
 * operating system's random generator. scripts/test-windows.sh builds it with mingw and puts it
 * in the Wine prefix's system32 only; it is never shipped with the product.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

typedef BOOLEAN (WINAPI *rtl_gen_random_fn)(PVOID, ULONG);

/* ProcessPrng (documented in "ProcessPrng function", Microsoft Learn): fills the buffer with
 * random bytes; always returns TRUE on Windows. Here it returns FALSE if the source fails. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    static rtl_gen_random_fn gen;
    if (!gen) {
        HMODULE advapi = LoadLibraryA("advapi32.dll");
        if (!advapi)
            return FALSE;
        gen = (rtl_gen_random_fn)(void *)GetProcAddress(advapi, "SystemFunction036");
        if (!gen)
            return FALSE;
    }
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!gen(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
