#include <stdio.h>
#include <string.h>
#include <vips/vips.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "pipeline.h"

#define PARLEY_VIPS_AT_LEAST(major, minor) \
	(VIPS_MAJOR_VERSION > (major) || (VIPS_MAJOR_VERSION == (major) && VIPS_MINOR_VERSION >= (minor)))

static void parley_quiet(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data) {
	(void) domain;
	(void) level;
	(void) message;
	(void) data;
}

int parley_setup(void) {
	vips_cache_set_max(0);
	vips_cache_set_max_mem(0);
	vips_cache_set_max_files(0);
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG,
		parley_quiet, NULL);
#ifdef __GLIBC__
	// libvips allocates from many threads; glibc's default of 8 arenas per
	// core lets freed pixel buffers pile up as resident memory.
	mallopt(M_ARENA_MAX, 2);
#endif
#if PARLEY_VIPS_AT_LEAST(8, 13)
	vips_block_untrusted_set(TRUE);
	vips_operation_block_set("VipsForeignLoad", TRUE);
	vips_operation_block_set("VipsForeignLoadJpeg", FALSE);
	vips_operation_block_set("VipsForeignLoadPng", FALSE);
	vips_operation_block_set("VipsForeignLoadNsgif", FALSE);
	vips_operation_block_set("VipsForeignLoadGif", FALSE);
	vips_operation_block_set("VipsForeignLoadWebp", FALSE);
	return 1;
#else
	return 0;
#endif
}

// parley_load loads buf with its format's own loader, header first: pixels
// are decoded only when something reads them.
static int parley_load(const void *buf, size_t len, int format, int animate, VipsImage **out) {
	void *b = (void *) buf;
	int n = animate ? -1 : 1;
	switch (format) {
#if PARLEY_VIPS_AT_LEAST(8, 12)
	case PARLEY_JPEG:
		return vips_jpegload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	case PARLEY_PNG:
		return vips_pngload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, NULL);
	case PARLEY_GIF:
		return vips_gifload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, "n", n, NULL);
	case PARLEY_WEBP:
		return vips_webpload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, "n", n, NULL);
#else
	case PARLEY_JPEG:
		return vips_jpegload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail", TRUE, NULL);
	case PARLEY_PNG:
		return vips_pngload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail", TRUE, NULL);
	case PARLEY_GIF:
		return vips_gifload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail", TRUE, "n", n, NULL);
	case PARLEY_WEBP:
		return vips_webpload_buffer(b, len, out, "access", VIPS_ACCESS_SEQUENTIAL, "fail", TRUE, "n", n, NULL);
#endif
	}
	vips_error("parley", "unsupported input format %d", format);
	return -1;
}

int parley_header(const void *buf, size_t len, int format, int animate, int *width, int *height, int *frames) {
	VipsImage *img = NULL;
	if (parley_load(buf, len, format, animate, &img)) {
		return -1;
	}
	int page = vips_image_get_page_height(img);
	*width = img->Xsize;
	*height = page;
	*frames = page > 0 ? img->Ysize / page : 1;
	g_object_unref(img);
	return 0;
}

static void *parley_collect(VipsImage *img, const char *name, GValue *value, void *a) {
	(void) img;
	(void) value;
	GSList **names = a;
	*names = g_slist_prepend(*names, g_strdup(name));
	return NULL;
}

// The metadata an encoder needs: an animation's frame height and timing.
static const char *parley_keep[] = {"page-height", "delay", "loop", "gif-delay", "gif-loop", NULL};

// parley_strip removes every metadata field of img (EXIF with its GPS
// position, XMP, IPTC, ICC, comments) but parley_keep. The encoders' own
// "strip" is not enough: libvips 8.14.1's webpsave ignores it.
static void parley_strip(VipsImage *img) {
	GSList *names = NULL;
	vips_image_map(img, parley_collect, &names);
	for (GSList *p = names; p; p = p->next) {
		const char *name = p->data;
		int keep = 0;
		for (const char **k = parley_keep; *k; k++) {
			keep |= strcmp(name, *k) == 0;
		}
		if (!keep) {
			vips_image_remove(img, name); // built-in fields (width, …) are refused, harmlessly
		}
		g_free(p->data);
	}
	g_slist_free(names);
}

static int parley_encode(VipsImage *img, const parley_job *job, parley_rendition *out) {
	if (job->webp) {
		return vips_webpsave_buffer(img, &out->data, &out->len, "Q", job->quality, "effort", job->effort,
			"strip", TRUE, NULL);
	}
	return vips_jpegsave_buffer(img, &out->data, &out->len, "Q", job->quality, "optimize_coding", TRUE,
		"strip", TRUE, NULL);
}

// parley_step replaces *img with next (its successor in the pipeline).
static void parley_step(VipsImage **img, VipsImage *next) {
	g_object_unref(*img);
	*img = next;
}

// parley_jpeg_shrink is the largest JPEG shrink-on-load factor that still
// leaves the long edge at least max_edge, so that the resize after it only
// shrinks.
static int parley_jpeg_shrink(int long_edge, int max_edge) {
	for (int s = 8; s > 1; s /= 2) {
		if (long_edge / s >= max_edge) {
			return s;
		}
	}
	return 1;
}

// parley_load_jpeg is the still-JPEG path: the decoder's own shrink
// (libjpeg scales while decoding), then a Lanczos resize to the bound. It
// leaves rotation to the caller, on the smaller image in memory. About a
// third cheaper than vips_thumbnail_buffer for the same output; phone
// photos are JPEGs.
static int parley_load_jpeg(const void *buf, size_t len, const parley_job *job, VipsImage **out) {
	VipsImage *img = NULL, *next = NULL;
	if (parley_load(buf, len, PARLEY_JPEG, 0, &img)) {
		return -1;
	}
	int shrink = parley_jpeg_shrink(VIPS_MAX(img->Xsize, img->Ysize), job->max_edge);
	g_object_unref(img);
	img = NULL;
#if PARLEY_VIPS_AT_LEAST(8, 12)
	if (vips_jpegload_buffer((void *) buf, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR,
			"shrink", shrink, NULL)) {
#else
	if (vips_jpegload_buffer((void *) buf, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail", TRUE,
			"shrink", shrink, NULL)) {
#endif
		return -1;
	}
	double scale = (double) job->max_edge / VIPS_MAX(img->Xsize, img->Ysize);
	if (scale < 1.0) {
		if (vips_resize(img, &next, scale, NULL)) {
			g_object_unref(img);
			return -1;
		}
		parley_step(&img, next);
	}
	*out = img;
	return 0;
}

int parley_process(const void *buf, size_t len, const parley_job *job, parley_rendition *image, parley_rendition *thumb) {
	VipsImage *img = NULL, *next = NULL, *first = NULL, *small = NULL;
	int rc = -1;
	int animate = job->animate && (job->format == PARLEY_GIF || job->format == PARLEY_WEBP);
	int rotate = 0; // the JPEG path rotates after decoding
	memset(image, 0, sizeof *image);
	memset(thumb, 0, sizeof *thumb);

	if (job->format == PARLEY_JPEG) {
		if (parley_load_jpeg(buf, len, job, &img)) {
			goto out;
		}
		rotate = 1;
	} else {
		// Shrink-on-load where the format has it (WebP), auto-rotate by
		// EXIF orientation, premultiplied alpha while resizing, all
		// frames of an animation, never enlarge.
		char opts[64];
#if PARLEY_VIPS_AT_LEAST(8, 12)
		snprintf(opts, sizeof opts, "fail_on=error%s", animate ? ",n=-1" : "");
#else
		snprintf(opts, sizeof opts, "fail=true%s", animate ? ",n=-1" : "");
#endif
		if (vips_thumbnail_buffer((void *) buf, len, &img, job->max_edge, "height", job->max_edge,
				"size", VIPS_SIZE_DOWN, "option_string", opts, NULL)) {
			goto out;
		}
	}
	if (!job->webp && vips_image_hasalpha(img)) {
		VipsArrayDouble *white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
		int err = vips_flatten(img, &next, "background", white, NULL);
		vips_area_unref(VIPS_AREA(white));
		if (err) {
			goto out;
		}
		parley_step(&img, next);
	}
	// To sRGB, which is what browsers assume once profiles are stripped:
	// an embedded profile (a phone's Display P3, a print CMYK), else CMYK
	// through libvips' fallback profile.
	if (vips_image_get_typeof(img, VIPS_META_ICC_NAME)) {
		if (vips_icc_transform(img, &next, "srgb", "embedded", TRUE, "intent", VIPS_INTENT_PERCEPTUAL, NULL)) {
			goto out;
		}
		parley_step(&img, next);
	} else if (vips_image_guess_interpretation(img) == VIPS_INTERPRETATION_CMYK) {
		if (vips_colourspace(img, &next, VIPS_INTERPRETATION_sRGB, NULL)) {
			goto out;
		}
		parley_step(&img, next);
	}
	// Decode once: the encoder and the thumbnail both read these pixels.
	// The decoder and its buffers go before the encoder allocates.
	if (!(next = vips_image_copy_memory(img))) {
		goto out;
	}
	parley_step(&img, next);
	if (rotate) {
		if (vips_autorot(img, &next, NULL)) {
			goto out;
		}
		parley_step(&img, next);
	}
	parley_strip(img);
	int page = vips_image_get_page_height(img);
	if (parley_encode(img, job, image)) {
		goto out;
	}
	image->width = img->Xsize;
	image->height = page;
	image->frames = page > 0 ? img->Ysize / page : 1;

	// The thumbnail is a still of the first frame.
	if (page < img->Ysize) {
		if (vips_crop(img, &first, 0, 0, img->Xsize, page, NULL)) {
			goto out;
		}
	} else {
		first = img;
		g_object_ref(first);
	}
	if (vips_image_hasalpha(first)) {
		// vips_thumbnail_image premultiplies alpha around the resize.
		if (vips_thumbnail_image(first, &small, job->thumb_edge, "height", job->thumb_edge, "size", VIPS_SIZE_DOWN,
				"no_rotate", TRUE, NULL)) {
			goto out;
		}
	} else {
		double scale = VIPS_MIN(1.0, (double) job->thumb_edge / VIPS_MAX(first->Xsize, first->Ysize));
		if (vips_resize(first, &small, scale, NULL)) {
			goto out;
		}
	}
	if (parley_encode(small, job, thumb)) {
		goto out;
	}
	thumb->width = small->Xsize;
	thumb->height = small->Ysize;
	thumb->frames = 1;
	rc = 0;

out:
	if (img) g_object_unref(img);
	if (first) g_object_unref(first);
	if (small) g_object_unref(small);
#ifdef __GLIBC__
	// Freed pixel buffers go back to the system: peaks of later images do
	// not stack on top of this one's leftovers.
	malloc_trim(0);
#endif
	if (rc) {
		g_free(image->data);
		g_free(thumb->data);
		memset(image, 0, sizeof *image);
		memset(thumb, 0, sizeof *thumb);
	}
	return rc;
}

int parley_probe(const void *buf, size_t len) {
	VipsImage *img = vips_image_new_from_buffer(buf, len, "", NULL);
	if (!img) {
		return -1;
	}
	g_object_unref(img);
	return 0;
}

void parley_error(char *out, size_t n) {
	snprintf(out, n, "%s", vips_error_buffer());
	vips_error_clear();
}
