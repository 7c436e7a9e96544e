/**
 * The environment for npm commands a test runs in another directory: without the variables
 * `npm test` sets for its own script (npm_config_local_prefix would point npm back at this
 * repository), but with the user's cache, registry, proxy and certificate settings.
 */
export function npmEnvironment(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry|cafile|strict_ssl|proxy|https_proxy|noproxy)$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !(/^npm_/i.test(key) || key === 'INIT_CWD') || keep.test(key)));
}
