/*
** model.S — embeds the model file (its path comes from config.h) in .rodata,
** page-aligned, so the engine reads the weights in place from the image.
*/
#include "config.h"

    .section .rodata.model, "a"
    .balign 4096
    .global l4lm_port_model_start, l4lm_port_model_end
l4lm_port_model_start:
    .incbin L4LM_PORT_MODEL_FILE
l4lm_port_model_end:

    .section .note.GNU-stack, "", %progbits   /* no executable stack */
