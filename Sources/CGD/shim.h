// libgd, for thumbnails (PNG, JPEG, GIF, WebP). Installed by Scripts/setup-system.sh (libgd-dev).
#include <gd.h>
