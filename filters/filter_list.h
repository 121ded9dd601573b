/* SPDX-License-Identifier: Apache-2.0 */
/* filters/filter_list.h — one line per filter: NETWORK_FILTER(symbol) for a `const struct
 * net_filter_def`, HTTP_FILTER(symbol) for a `const struct http_filter_def`, each defined in
 * the filter's own file. Order is lookup order. Includers define both macros. */
NETWORK_FILTER(tcp_proxy_filter_def)
NETWORK_FILTER(hcm_filter_def)
HTTP_FILTER(router_filter_def)
