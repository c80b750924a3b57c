/*
** stack.c — the stack high-water mark every freestanding port reports:
** paint the unused stack below the caller with a known byte, and later
** count how much of it was written over. One probe for the bare-metal
** images, the seL4 root task and the Microkit inference PD.
*/
#include "port.h"

#define STACK_PAINT 0x5a
#define MARGIN      256 /* bytes below the caller left alone: this frame and its spills */

void l4lm_port_stack_paint(char *bottom)
{
    char *here = __builtin_frame_address(0);
    for (char *p = bottom; p < here - MARGIN; p++)
        *(volatile char *)p = STACK_PAINT;
}

size_t l4lm_port_stack_used(const char *bottom, const char *top)
{
    const char *p = bottom;
    while (p < top && *p == STACK_PAINT)
        p++;
    return (size_t)(top - p);
}
