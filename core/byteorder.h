/* Big-endian loads and stores on byte pointers. Wire code never casts a
 * packet pointer to a struct: alignment and aliasing stay out of the way. */
#ifndef SYNACK_CORE_BYTEORDER_H
#define SYNACK_CORE_BYTEORDER_H

#include <stdint.h>

static inline uint16_t sk_rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static inline uint32_t sk_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void sk_wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void sk_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
