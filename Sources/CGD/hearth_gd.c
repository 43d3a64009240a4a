#include "hearth_gd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

// Each function: its return type, name, parameters, and the arguments that forward them.
#define HEARTH_GD_RETURNING(X) \
    X(gdImagePtr, gdImageCreateTrueColor, (int sx, int sy), (sx, sy)) \
    X(gdImagePtr, gdImageCreateFromPngPtr, (int size, void *data), (size, data)) \
    X(gdImagePtr, gdImageCreateFromGifPtr, (int size, void *data), (size, data)) \
    X(gdImagePtr, gdImageCreateFromJpegPtr, (int size, void *data), (size, data)) \
    X(gdImagePtr, gdImageCreateFromWebpPtr, (int size, void *data), (size, data)) \
    X(int, gdImageGetTrueColorPixel, (gdImagePtr im, int x, int y), (im, x, y)) \
    X(void *, gdImageJpegPtr, (gdImagePtr im, int *size, int quality), (im, size, quality)) \
    X(void *, gdImageWebpPtr, (gdImagePtr im, int *size), (im, size)) \
    X(void *, gdImageGifPtr, (gdImagePtr im, int *size), (im, size)) \
    X(void *, gdImagePngPtr, (gdImagePtr im, int *size), (im, size))

#define HEARTH_GD_VOID(X) \
    X(gdImageDestroy, (gdImagePtr im), (im)) \
    X(gdImageFilledRectangle, (gdImagePtr im, int x1, int y1, int x2, int y2, int color), (im, x1, y1, x2, y2, color)) \
    X(gdImageCopyResampled, \
      (gdImagePtr dst, gdImagePtr src, int dstX, int dstY, int srcX, int srcY, int dstW, int dstH, int srcW, int srcH), \
      (dst, src, dstX, dstY, srcX, srcY, dstW, dstH, srcW, srcH)) \
    X(gdImageAlphaBlending, (gdImagePtr im, int alphaBlendingArg), (im, alphaBlendingArg)) \
    X(gdImageSaveAlpha, (gdImagePtr im, int saveAlphaArg), (im, saveAlphaArg)) \
    X(gdFree, (void *m), (m))

#define POINTER_RETURNING(type, name, params, args) static type(*p_##name) params;
#define POINTER_VOID(name, params, args) static void(*p_##name) params;
HEARTH_GD_RETURNING(POINTER_RETURNING)
HEARTH_GD_VOID(POINTER_VOID)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static const char *failure = NULL;

static void load(void) {
    // The runtime package's soname; libgd-dev's unversioned link is a fallback.
    void *handle = dlopen("libgd.so.3", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) handle = dlopen("libgd.so", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        failure = dlerror();
        return;
    }
#define RESOLVE(name)                                                   \
    *(void **)(&p_##name) = dlsym(handle, #name);                       \
    if (p_##name == NULL) {                                             \
        failure = "libgd lacks " #name;                                 \
        return;                                                         \
    }
#define RESOLVE_RETURNING(type, name, params, args) RESOLVE(name)
#define RESOLVE_VOID(name, params, args) RESOLVE(name)
    HEARTH_GD_RETURNING(RESOLVE_RETURNING)
    HEARTH_GD_VOID(RESOLVE_VOID)
    loaded = 1;
}

int hearth_gd_load(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *hearth_gd_error(void) {
    hearth_gd_load();
    return failure;
}

#define WRAP_RETURNING(type, name, params, args) \
    type hearth_##name params { return p_##name args; }
#define WRAP_VOID(name, params, args) \
    void hearth_##name params { p_##name args; }
HEARTH_GD_RETURNING(WRAP_RETURNING)
HEARTH_GD_VOID(WRAP_VOID)
