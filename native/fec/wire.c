/* The 16-byte FEC header (docs/fec-format.md). */
#include <errno.h>
#include <string.h>

#include "fec_internal.h"

#define TYPE_REPAIR 0x80
#define TYPE_CODE_MASK 0x0f
#define TYPE_RESERVED 0x70

static uint16_t header_check(const uint8_t *h)
{
    uint16_t crc = 0xFFFF;
    for (unsigned i = 0; i < FEC_HDR_LEN - 2; i++)
        crc = (uint16_t)((crc << 8) ^ fec_crc16_table[((crc >> 8) ^ h[i]) & 0xff]);
    return crc;
}

void fec_hdr_write(uint8_t out[FEC_HDR_LEN], const fec_hdr *h)
{
    fec_init();
    out[0] = h->version;
    out[1] = (uint8_t)((h->repair ? TYPE_REPAIR : 0) | (h->code & TYPE_CODE_MASK));
    out[2] = h->k;
    out[3] = h->m;
    out[4] = h->index;
    out[5] = 0;
    const uint64_t id = h->block_id & FEC_BLOCK_ID_MASK;
    for (unsigned i = 0; i < 6; i++)
        out[6 + i] = (uint8_t)(id >> (8 * (5 - i)));
    out[12] = (uint8_t)(h->length >> 8);
    out[13] = (uint8_t)h->length;
    const uint16_t check = header_check(out);
    out[14] = (uint8_t)(check >> 8);
    out[15] = (uint8_t)check;
}

int fec_hdr_parse(const uint8_t *pkt, size_t len, fec_hdr *h)
{
    fec_init();
    if (pkt == NULL || len < FEC_HDR_LEN)
        return -EBADMSG;
    if (pkt[0] != FEC_VERSION || (pkt[1] & TYPE_RESERVED) || pkt[5] != 0)
        return -EBADMSG;
    if ((uint16_t)((pkt[14] << 8) | pkt[15]) != header_check(pkt))
        return -EBADMSG;
    h->version = pkt[0];
    h->repair = (pkt[1] & TYPE_REPAIR) ? 1 : 0;
    h->code = pkt[1] & TYPE_CODE_MASK;
    h->k = pkt[2];
    h->m = pkt[3];
    h->index = pkt[4];
    h->block_id = 0;
    for (unsigned i = 0; i < 6; i++)
        h->block_id = (h->block_id << 8) | pkt[6 + i];
    h->length = (uint16_t)((pkt[12] << 8) | pkt[13]);
    if (fec_code_check(h->code, h->k, h->m) < 0 || h->length == 0)
        return -EBADMSG;
    if (h->repair) {
        if (h->index < h->k || h->index >= h->k + h->m)
            return -EBADMSG;
        if (len < (size_t)FEC_HDR_LEN + FEC_LEN_FIELD + h->length)
            return -EBADMSG;
    } else {
        if (h->index >= h->k)
            return -EBADMSG;
        if (len < (size_t)FEC_HDR_LEN + h->length)
            return -EBADMSG;
    }
    return 0;
}
