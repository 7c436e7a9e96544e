export { useLifeline, type UseLifelineOptions, type UseLifelineReturn } from './use-lifeline.js';
export { useChannel, type UseChannelOptions, type UseChannelReturn } from './use-channel.js';
export { createLifeline, type CreateLifelineFrom, type CreateLifelineOptions, type LifelinePlugin, type LifelineUrl } from './plugin.js';
export { isServerRendering } from './server-rendering.js';
// The client's types that the returned refs carry, so that one import serves a component.
export type { ClientState, CloseInfo, LifelineClientLike, Message, RequestOptions, ResetInfo, SendOptions, SessionInfo, Status } from '@lifeline/client';
export type { ChannelPosition, ChannelResetInfo, PresenceMember, Publication, Subscription, SubscriptionState } from '@lifeline/client/channels';
