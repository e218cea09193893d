// The libvips side of media/vips: set-up and the one-call pipeline. Every
// function is called from Go on a locked OS thread and keeps no reference
// to its input buffer after it returns.
#ifndef PARLEY_VIPS_PIPELINE_H
#define PARLEY_VIPS_PIPELINE_H

#include <stddef.h>

// Formats, as media.Format numbers them.
enum { PARLEY_JPEG = 1, PARLEY_PNG = 2, PARLEY_GIF = 3, PARLEY_WEBP = 4 };

// parley_setup disables the operation cache, silences libvips' warnings
// (they are about hostile input, answered as errors) and blocks every
// loader but JPEG, PNG, GIF and WebP, and every operation libvips marks
// untrusted. It returns 1 if loaders could be blocked (libvips >= 8.13),
// 0 otherwise.
int parley_setup(void);

// parley_header loads only the header of buf with format's own loader
// (all frames when animate) and reports the frame size and frame count.
// Returns 0 on success.
int parley_header(const void *buf, size_t len, int format, int animate, int *width, int *height, int *frames);

typedef struct {
	int format;     // input format (sniffed)
	int animate;    // load every frame
	int max_edge;   // bound of the image's long edge
	int thumb_edge; // bound of the thumbnail's long edge
	int webp;       // 1: encode WebP, 0: JPEG
	int quality;
	int effort;     // WebP effort 0-6
} parley_job;

typedef struct {
	void *data; // g_free it
	size_t len;
	int width, height, frames;
} parley_rendition;

// parley_process decodes buf (auto-rotated, shrunk on load where the
// format allows, bounded to max_edge), encodes it without metadata, and
// makes a still thumbnail of its first frame. Returns 0 on success; on
// failure nothing is left allocated.
int parley_process(const void *buf, size_t len, const parley_job *job, parley_rendition *image, parley_rendition *thumb);

// parley_probe loads buf's header with whichever loader libvips picks
// (no sniffing of ours): 0 if one accepted it. For the tests of the block
// list.
int parley_probe(const void *buf, size_t len);

// parley_error copies libvips' error buffer into out (n bytes) and clears it.
void parley_error(char *out, size_t n);

#endif
