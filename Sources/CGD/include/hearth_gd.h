// libgd, for thumbnails (PNG, JPEG, GIF, WebP), loaded on first use.
//
// Linked directly, libgd brings some fifty shared libraries into every process (HEIF, AVIF,
// TIFF, X11, fontconfig...), mapped and relocated at start even on a server that never makes a
// thumbnail: about 5 MB of its idle memory. Loaded with dlopen, they cost nothing until the
// first thumbnail, and a machine without libgd serves everything but thumbnails.
//
// The headers (libgd-dev) are needed to build; the library (libgd3) to make thumbnails.
#ifndef HEARTH_GD_H
#define HEARTH_GD_H

#include <gd.h>

/// 1 once libgd is loaded (the first call loads it), 0 if it cannot be. Thread-safe. Call it
/// and check the answer before any other function here.
int hearth_gd_load(void);

/// Why loading failed, or NULL.
const char *hearth_gd_error(void);

gdImagePtr hearth_gdImageCreateTrueColor(int sx, int sy);
gdImagePtr hearth_gdImageCreateFromPngPtr(int size, void *data);
gdImagePtr hearth_gdImageCreateFromGifPtr(int size, void *data);
gdImagePtr hearth_gdImageCreateFromJpegPtr(int size, void *data);
gdImagePtr hearth_gdImageCreateFromWebpPtr(int size, void *data);
void hearth_gdImageDestroy(gdImagePtr im);
int hearth_gdImageGetTrueColorPixel(gdImagePtr im, int x, int y);
void hearth_gdImageFilledRectangle(gdImagePtr im, int x1, int y1, int x2, int y2, int color);
void hearth_gdImageCopyResampled(gdImagePtr dst, gdImagePtr src, int dstX, int dstY, int srcX, int srcY,
                                 int dstW, int dstH, int srcW, int srcH);
void hearth_gdImageAlphaBlending(gdImagePtr im, int alphaBlendingArg);
void hearth_gdImageSaveAlpha(gdImagePtr im, int saveAlphaArg);
void *hearth_gdImageJpegPtr(gdImagePtr im, int *size, int quality);
void *hearth_gdImageWebpPtr(gdImagePtr im, int *size);
void *hearth_gdImageGifPtr(gdImagePtr im, int *size);
void *hearth_gdImagePngPtr(gdImagePtr im, int *size);
void hearth_gdFree(void *m);

#endif
