/* SPDX-License-Identifier: Apache-2.0 */
/* config/translate_tls.c — envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
 * (with CommonTlsContext, TlsCertificate, TlsParameters, CertificateValidationContext and
 * SubjectAltNameMatcher) → struct cfg_tls_server. Certificates and keys are read here and
 * checked by building the BoringSSL context once (proxy/tls.c), so a bad PEM, a key that
 * does not match its certificate or an unknown cipher name is a load error naming the file,
 * line and field. Every field Remora does not implement is refused, never ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/err.h"
#include "config/model_tls.h"
#include "config/translate.h"
#include "config/translate_http.h"
#include "config/value.h"
#include "proxy/tls.h"

#define PEM_MAX (1024u * 1024u)

/* ---- field tables ------------------------------------------------------------------------- */

static const struct cfg_field downstream_fields[] = {
    {"common_tls_context", CFG_SUPPORTED, NULL, NULL},
    {"require_client_certificate", CFG_SUPPORTED, NULL, NULL},
    {"require_sni", CFG_SUPPORTED, NULL, NULL},
    {"session_ticket_keys", CFG_UNSUPPORTED, NULL,
     "Remora rotates its own ticket keys; use disable_stateless_session_resumption to turn "
     "tickets off"},
    {"session_ticket_keys_sds_secret_config", CFG_UNSUPPORTED, NULL, "SDS comes with xDS"},
    {"disable_stateless_session_resumption", CFG_SUPPORTED, NULL, NULL},
    {"disable_stateful_session_resumption", CFG_SUPPORTED, NULL, NULL},
    {"session_timeout", CFG_SUPPORTED, NULL, NULL},
    {"ocsp_staple_policy", CFG_UNSUPPORTED, "LENIENT_STAPLING", NULL},
    {"full_scan_certs_on_sni_mismatch", CFG_NOOP, NULL, NULL}, /* one certificate: no scan */
    {"prefer_client_ciphers", CFG_SUPPORTED, NULL, NULL},
    {"tls_session_ticket_keys", CFG_REMOVED, NULL, NULL},
};
CFG_TYPE(downstream_msg, "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
         downstream_fields);

static const struct cfg_field common_fields[] = {
    {"tls_params", CFG_SUPPORTED, NULL, NULL},
    {"tls_certificates", CFG_SUPPORTED, NULL, NULL},
    {"tls_certificate_sds_secret_configs", CFG_UNSUPPORTED, "[]", "SDS comes with xDS"},
    {"tls_certificate_provider_instance", CFG_UNSUPPORTED, NULL, NULL},
    {"tls_certificate_certificate_provider", CFG_UNSUPPORTED, NULL, NULL},
    {"tls_certificate_certificate_provider_instance", CFG_UNSUPPORTED, NULL, NULL},
    {"custom_tls_certificate_selector", CFG_UNSUPPORTED, NULL, NULL},
    {"validation_context", CFG_SUPPORTED, NULL, NULL},
    {"validation_context_sds_secret_config", CFG_UNSUPPORTED, NULL, "SDS comes with xDS"},
    {"combined_validation_context", CFG_UNSUPPORTED, NULL, "use validation_context"},
    {"validation_context_certificate_provider", CFG_UNSUPPORTED, NULL, NULL},
    {"validation_context_certificate_provider_instance", CFG_UNSUPPORTED, NULL, NULL},
    {"alpn_protocols", CFG_SUPPORTED, NULL, NULL},
    {"custom_handshaker", CFG_UNSUPPORTED, NULL, NULL},
    {"key_log", CFG_UNSUPPORTED, NULL, NULL},
};
CFG_TYPE(common_msg, "envoy.extensions.transport_sockets.tls.v3.CommonTlsContext", common_fields);

static const struct cfg_field cert_fields[] = {
    {"certificate_chain", CFG_SUPPORTED, NULL, NULL},
    {"private_key", CFG_SUPPORTED, NULL, NULL},
    {"pkcs12", CFG_UNSUPPORTED, NULL, "use certificate_chain and private_key (PEM)"},
    {"watched_directory", CFG_UNSUPPORTED, NULL, NULL},
    {"private_key_provider", CFG_UNSUPPORTED, NULL, NULL},
    {"password", CFG_UNSUPPORTED, NULL, "use an unencrypted PEM private key"},
    {"ocsp_staple", CFG_UNSUPPORTED, NULL, NULL},
    {"signed_certificate_timestamp", CFG_UNSUPPORTED, "[]", NULL},
};
CFG_TYPE(cert_msg, "envoy.extensions.transport_sockets.tls.v3.TlsCertificate", cert_fields);

static const struct cfg_field params_fields[] = {
    {"tls_minimum_protocol_version", CFG_SUPPORTED, NULL, NULL},
    {"tls_maximum_protocol_version", CFG_SUPPORTED, NULL, NULL},
    {"cipher_suites", CFG_SUPPORTED, NULL, NULL},
    {"ecdh_curves", CFG_SUPPORTED, NULL, NULL},
    {"signature_algorithms", CFG_SUPPORTED, NULL, NULL},
    {"compliance_policies", CFG_UNSUPPORTED, "[]", NULL},
};
CFG_TYPE(params_msg, "envoy.extensions.transport_sockets.tls.v3.TlsParameters", params_fields);

static const struct cfg_field validation_fields[] = {
    {"trusted_ca", CFG_SUPPORTED, NULL, NULL},
    {"ca_certificate_provider_instance", CFG_UNSUPPORTED, NULL, NULL},
    {"system_root_certs", CFG_UNSUPPORTED, NULL, "name the CA file in trusted_ca"},
    {"watched_directory", CFG_UNSUPPORTED, NULL, NULL},
    {"verify_certificate_spki", CFG_SUPPORTED, NULL, NULL},
    {"verify_certificate_hash", CFG_SUPPORTED, NULL, NULL},
    {"match_typed_subject_alt_names", CFG_SUPPORTED, NULL, NULL},
    {"match_subject_alt_names", CFG_DEPRECATED, NULL, "use match_typed_subject_alt_names"},
    {"require_signed_certificate_timestamp", CFG_UNSUPPORTED, "false", NULL},
    {"crl", CFG_UNSUPPORTED, NULL, NULL},
    {"allow_expired_certificate", CFG_SUPPORTED, NULL, NULL},
    {"trust_chain_verification", CFG_SUPPORTED, NULL, NULL},
    {"custom_validator_config", CFG_UNSUPPORTED, NULL, NULL},
    {"only_verify_leaf_cert_crl", CFG_NOOP, NULL, NULL}, /* no CRLs: nothing to narrow */
    {"max_verify_depth", CFG_SUPPORTED, NULL, NULL},
    {"verify_subject_alt_name", CFG_REMOVED, NULL, "use match_typed_subject_alt_names"},
};
CFG_TYPE(validation_msg, "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext",
         validation_fields);

static const struct cfg_field san_fields[] = {
    {"san_type", CFG_SUPPORTED, NULL, NULL},
    {"matcher", CFG_SUPPORTED, NULL, NULL},
    {"oid", CFG_UNSUPPORTED, "", NULL},
};
CFG_TYPE(san_msg, "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", san_fields);

static const struct cfg_enum_val version_vals[] = {
    {"TLS_AUTO", TLSV_AUTO, true}, {"TLSv1_0", TLSV_1_0, true}, {"TLSv1_1", TLSV_1_1, true},
    {"TLSv1_2", TLSV_1_2, true},   {"TLSv1_3", TLSV_1_3, true},
};
CFG_ENUM(version_enum, "envoy.extensions.transport_sockets.tls.v3.TlsParameters.TlsProtocol",
         version_vals);

static const struct cfg_enum_val san_type_vals[] = {
    {"SAN_TYPE_UNSPECIFIED", SAN_ANY, false},
    {"EMAIL", SAN_EMAIL, true},
    {"DNS", SAN_DNS, true},
    {"URI", SAN_URI, true},
    {"IP_ADDRESS", SAN_IP, true},
    {"OTHER_NAME", -1, false},
};
CFG_ENUM(san_type_enum, "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType",
         san_type_vals);

static const struct cfg_enum_val trust_vals[] = {
    {"VERIFY_TRUST_CHAIN", 0, true},
    {"ACCEPT_UNTRUSTED", 1, true},
};
CFG_ENUM(trust_enum,
         "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext."
         "TrustChainVerification",
         trust_vals);

/* ---- pieces ------------------------------------------------------------------------------- */

static bool pem_source(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field,
                       const char *what, struct cfg_tls_pem *out)
{
    const struct vt_node *n = cfg_obj_get(o, field);
    if (!n)
        return true;
    out->src = n;
    out->path = cfg_obj_path(ctx, o, field);
    return cfg_translate_data_source(ctx, n, out->path, PEM_MAX, what, &out->data, &out->len);
}

/* repeated string → one string joined with ':' (BoringSSL's list syntax), or NULL. */
static const char *joined_list(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field)
{
    size_t count;
    if (!cfg_f_list(ctx, o, field, &count) || count == 0)
        return NULL;
    const struct vt_node *list = cfg_obj_get(o, field);
    const char *path = cfg_obj_path(ctx, o, field);
    size_t total = 0;
    const char **items = cfg_alloc(ctx, count * sizeof(*items));
    if (!items)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        items[i] = "";
        if (!cfg_val_str(ctx, list->list.items[i], cfg_path_idx(ctx, path, i), &items[i]))
            return NULL;
        if (!items[i][0]) {
            cfg_err_add(ctx->err, list->list.items[i], cfg_path_idx(ctx, path, i),
                        "%s entries must not be empty", field);
            return NULL;
        }
        total += strlen(items[i]) + 1;
    }
    char *out = cfg_alloc(ctx, total);
    if (!out)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(items[i]);
        memcpy(out + at, items[i], l);
        at += l;
        out[at++] = i + 1 < count ? ':' : 0;
    }
    return out;
}

static void tls_params(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                       struct cfg_tls_server *t)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &params_msg, n, path, 0))
        return;
    t->params_src = n;
    t->params_path = path;
    int minv = TLSV_AUTO, maxv = TLSV_AUTO;
    cfg_f_enum(ctx, &o, "tls_minimum_protocol_version", &version_enum, &minv);
    cfg_f_enum(ctx, &o, "tls_maximum_protocol_version", &version_enum, &maxv);
    if (minv != TLSV_AUTO)
        t->min_version = (enum cfg_tls_version)minv;
    if (maxv != TLSV_AUTO)
        t->max_version = (enum cfg_tls_version)maxv;
    if (t->min_version > t->max_version)
        cfg_obj_error(ctx, &o, "tls_minimum_protocol_version",
                      "tls_minimum_protocol_version is above tls_maximum_protocol_version");
    t->cipher_suites = joined_list(ctx, &o, "cipher_suites");
    t->ecdh_curves = joined_list(ctx, &o, "ecdh_curves");
    t->sigalgs = joined_list(ctx, &o, "signature_algorithms");
}

static void tls_certificates(struct cfg_ctx *ctx, const struct cfg_obj *common,
                             struct cfg_tls_server *t)
{
    size_t count;
    if (!cfg_f_list(ctx, common, "tls_certificates", &count))
        return;
    const char *path = cfg_obj_path(ctx, common, "tls_certificates");
    if (count == 0) {
        /* Envoy: "No TLS certificates found for server context". */
        cfg_obj_error(ctx, common, "tls_certificates",
                      "No TLS certificates found for server context: tls_certificates needs a "
                      "certificate_chain and a private_key");
        return;
    }
    if (count > 1) {
        cfg_err_add(ctx->err, cfg_obj_get(common, "tls_certificates"), path,
                    "%zu tls_certificates: Remora supports one certificate per filter chain "
                    "for now (Envoy picks RSA or ECDSA by the client's signature algorithms)",
                    count);
        return;
    }
    const struct vt_node *item = cfg_obj_get(common, "tls_certificates")->list.items[0];
    const char *ipath = cfg_path_idx(ctx, path, 0);
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &cert_msg, item, ipath, 0))
        return;
    pem_source(ctx, &o, "certificate_chain", "certificate chain", &t->cert_chain);
    pem_source(ctx, &o, "private_key", "private key", &t->private_key);
    if (!cfg_obj_get(&o, "certificate_chain"))
        cfg_obj_error(ctx, &o, "certificate_chain", "certificate_chain is required");
    if (!cfg_obj_get(&o, "private_key"))
        cfg_obj_error(ctx, &o, "private_key", "private_key is required");
}

/* repeated string of base64 (spki) or hex (hash, colons allowed) SHA-256 digests. */
static void digests(struct cfg_ctx *ctx, const struct cfg_obj *o, const char *field, bool hex,
                    uint8_t (**out)[32], size_t *n)
{
    size_t count;
    if (!cfg_f_list(ctx, o, field, &count) || count == 0)
        return;
    const struct vt_node *list = cfg_obj_get(o, field);
    const char *path = cfg_obj_path(ctx, o, field);
    uint8_t(*arr)[32] = cfg_alloc(ctx, count * sizeof(*arr));
    if (!arr)
        return;
    for (size_t i = 0; i < count; i++) {
        const char *ipath = cfg_path_idx(ctx, path, i);
        const char *s = NULL;
        if (!cfg_val_str(ctx, list->list.items[i], ipath, &s))
            return;
        bool ok;
        if (hex) {
            size_t k = 0;
            ok = true;
            for (const char *p = s; *p && ok; p++) {
                if (*p == ':')
                    continue;
                const char *hx = "0123456789abcdef0123456789ABCDEF";
                const char *pos = strchr(hx, *p);
                if (!pos || k >= 64) {
                    ok = false;
                    break;
                }
                unsigned v = (unsigned)(pos - hx) % 16;
                arr[i][k / 2] = (uint8_t)(k % 2 ? (arr[i][k / 2] | v) : (v << 4));
                k++;
            }
            ok = ok && k == 64;
        } else {
            unsigned char buf[64];
            size_t l = strlen(s);
            ok = l <= 44 && cfg_b64_decode(s, l, buf) == 32;
            if (ok)
                memcpy(arr[i], buf, 32);
        }
        if (!ok) {
            /* Envoy's wording. */
            cfg_err_add(
                ctx->err, list->list.items[i], ipath,
                hex ? "Invalid hex-encoded SHA-256 %s" : "Invalid base64-encoded SHA-256 %s", s);
            return;
        }
    }
    *out = arr;
    *n = count;
}

static void san_matchers(struct cfg_ctx *ctx, const struct cfg_obj *o, struct cfg_tls_validation *v)
{
    size_t typed = 0, legacy = 0;
    if (!cfg_f_list(ctx, o, "match_typed_subject_alt_names", &typed) ||
        !cfg_f_list(ctx, o, "match_subject_alt_names", &legacy) || typed + legacy == 0)
        return;
    v->sans = cfg_alloc(ctx, (typed + legacy) * sizeof(*v->sans));
    if (!v->sans)
        return;
    const struct vt_node *tl = cfg_obj_get(o, "match_typed_subject_alt_names");
    const char *tpath = cfg_obj_path(ctx, o, "match_typed_subject_alt_names");
    for (size_t i = 0; i < typed; i++) {
        const char *ipath = cfg_path_idx(ctx, tpath, i);
        struct cfg_obj so;
        if (!cfg_obj_init(ctx, &so, &san_msg, tl->list.items[i], ipath, 0))
            continue;
        int type = SAN_ANY;
        if (!cfg_obj_get(&so, "san_type")) {
            cfg_obj_error(ctx, &so, "san_type",
                          "san_type is required (DNS, URI, EMAIL or IP_ADDRESS)");
            continue;
        }
        if (!cfg_f_enum(ctx, &so, "san_type", &san_type_enum, &type))
            continue;
        if (!cfg_obj_get(&so, "matcher")) {
            cfg_obj_error(ctx, &so, "matcher", "matcher is required");
            continue;
        }
        struct cfg_san_matcher *m = &v->sans[v->n_sans];
        m->type = (enum cfg_san_type)type;
        if (cfg_translate_string_matcher(ctx, cfg_obj_get(&so, "matcher"),
                                         cfg_obj_path(ctx, &so, "matcher"), &m->m))
            v->n_sans++;
    }
    const struct vt_node *ll = cfg_obj_get(o, "match_subject_alt_names");
    const char *lpath = cfg_obj_path(ctx, o, "match_subject_alt_names");
    for (size_t i = 0; i < legacy; i++) {
        struct cfg_san_matcher *m = &v->sans[v->n_sans];
        m->type = SAN_ANY;
        if (cfg_translate_string_matcher(ctx, ll->list.items[i], cfg_path_idx(ctx, lpath, i),
                                         &m->m))
            v->n_sans++;
    }
}

static void validation_context(struct cfg_ctx *ctx, const struct vt_node *n, const char *path,
                               struct cfg_tls_server *t)
{
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &validation_msg, n, path, 0))
        return;
    struct cfg_tls_validation *v = &t->v;
    t->has_validation = true;
    pem_source(ctx, &o, "trusted_ca", "trusted CA", &v->trusted_ca);
    digests(ctx, &o, "verify_certificate_spki", false, &v->spki, &v->n_spki);
    digests(ctx, &o, "verify_certificate_hash", true, &v->hashes, &v->n_hashes);
    san_matchers(ctx, &o, v);
    cfg_f_bool(ctx, &o, "allow_expired_certificate", &v->allow_expired);
    int trust = 0;
    cfg_f_enum(ctx, &o, "trust_chain_verification", &trust_enum, &trust);
    v->accept_untrusted = trust == 1;
    cfg_f_u32(ctx, &o, "max_verify_depth", &v->max_verify_depth);
    /* Envoy: SAN or pin checks need a CA to check the chain against, unless untrusted
     * chains are accepted on purpose. */
    if (!v->trusted_ca.data && !v->accept_untrusted && (v->n_sans || v->n_spki || v->n_hashes))
        cfg_obj_error(ctx, &o, "trusted_ca",
                      "SAN-based verification of peer certificates without trusted CA is "
                      "insecure and not allowed");
}

/* ---- DownstreamTlsContext ----------------------------------------------------------------- */

static const struct cfg_tls_server *downstream_tls(struct cfg_ctx *ctx, const struct vt_node *n,
                                                   const char *path)
{
    size_t mark = cfg_errors(ctx);
    struct cfg_obj o;
    if (!cfg_obj_init(ctx, &o, &downstream_msg, n, path, CFG_OBJ_ANY))
        return NULL;
    struct cfg_tls_server *t = cfg_alloc(ctx, sizeof(*t));
    if (!t)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->min_version = TLSV_1_2; /* Envoy's server defaults */
    t->max_version = TLSV_1_3;
    cfg_f_bool(ctx, &o, "require_client_certificate", &t->require_client_cert);
    cfg_f_bool(ctx, &o, "require_sni", &t->require_sni);
    cfg_f_bool(ctx, &o, "disable_stateless_session_resumption", &t->no_tickets);
    cfg_f_bool(ctx, &o, "disable_stateful_session_resumption", &t->no_session_cache);
    cfg_f_bool(ctx, &o, "prefer_client_ciphers", &t->prefer_client_ciphers);
    uint64_t st_ms = 0;
    if (cfg_f_duration_ms(ctx, &o, "session_timeout", &st_ms) && st_ms) {
        t->session_timeout_s = st_ms / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(st_ms / 1000);
        if (!t->session_timeout_s)
            t->session_timeout_s = 1;
    }

    const struct vt_node *cn = cfg_obj_get(&o, "common_tls_context");
    const char *cpath = cfg_obj_path(ctx, &o, "common_tls_context");
    struct cfg_obj co;
    if (!cfg_obj_init(ctx, &co, &common_msg, cn, cpath, 0))
        return NULL;
    if (!cn) {
        cfg_obj_error(ctx, &o, "common_tls_context",
                      "No TLS certificates found for server context: common_tls_context."
                      "tls_certificates is required");
        return NULL;
    }
    if (cfg_obj_get(&co, "tls_params"))
        tls_params(ctx, cfg_obj_get(&co, "tls_params"), cfg_obj_path(ctx, &co, "tls_params"), t);
    tls_certificates(ctx, &co, t);
    if (cfg_obj_get(&co, "validation_context"))
        validation_context(ctx, cfg_obj_get(&co, "validation_context"),
                           cfg_obj_path(ctx, &co, "validation_context"), t);

    size_t n_alpn;
    if (cfg_f_list(ctx, &co, "alpn_protocols", &n_alpn) && n_alpn) {
        /* Envoy joins the list with ',' and splits it again: "h2,http/1.1" is two. */
        const struct vt_node *list = cfg_obj_get(&co, "alpn_protocols");
        const char *apath = cfg_obj_path(ctx, &co, "alpn_protocols");
        uint8_t *wire = cfg_alloc(ctx, 1024);
        size_t wl = 0;
        for (size_t i = 0; wire && i < n_alpn; i++) {
            const char *ipath = cfg_path_idx(ctx, apath, i);
            const char *s = NULL;
            if (!cfg_val_str(ctx, list->list.items[i], ipath, &s))
                break;
            for (const char *p = s;;) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (l == 0 || l > 255 || wl + 1 + l > 1024) {
                    cfg_err_add(ctx->err, list->list.items[i], ipath,
                                "Invalid ALPN protocol string: %s", s);
                    wl = 0;
                    goto alpn_done;
                }
                wire[wl++] = (uint8_t)l;
                memcpy(wire + wl, p, l);
                wl += l;
                if (!e)
                    break;
                p = e + 1;
            }
        }
    alpn_done:
        if (wl) {
            t->alpn_wire = wire;
            t->alpn_wire_len = wl;
        }
    }
    if (cfg_errors(ctx) != mark || ctx->oom)
        return NULL;

    /* Build the BoringSSL context once now: what it refuses is a load error here, with the
     * file, line and field, never a failed handshake later. */
    struct tls_build_err err;
    SSL_CTX *sctx = tls_server_ctx_new(t, &err);
    if (!sctx) {
        cfg_err_add(ctx->err, err.src ? err.src : n, err.path ? err.path : path, "%s", err.msg);
        return NULL;
    }
    tls_ctx_free(sctx);
    return t;
}

#define TLS_TYPE "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"

bool cfg_tls_downstream_is(const char *type_name)
{
    return strcmp(type_name, TLS_TYPE) == 0;
}

const struct cfg_tls_server *
cfg_translate_downstream_tls(struct cfg_ctx *ctx, const struct vt_node *msg, const char *path)
{
    return downstream_tls(ctx, msg, path);
}
