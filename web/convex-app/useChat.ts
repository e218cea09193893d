// The API document's "Real-time Integration → React Hook" snippet
// (docs/chat-api.txt), unmodified but for whitespace: an app written for
// Convex, on the official convex/react client, with the `api` that
// `parley codegen --convex-dir` generates in ./convex/_generated.
import { useQuery, useMutation } from 'convex/react';
import { api } from './convex/_generated/api';

function useChat(conversationId: string) {
  // Subscribe to messages
  const messages = useQuery(api.shared.chat.getMessages, {
    conversationId,
    limit: 50
  });

  // Subscribe to typing indicators
  const typingIndicators = useQuery(api.shared.chat.getTypingIndicators, {
    conversationId
  });

  // Subscribe to unread count
  const unreadCount = useQuery(api.shared.chat.getUnreadCount, {});

  const sendMessage = useMutation(api.shared.chat.sendMessage);
  const markAsRead = useMutation(api.shared.chat.markMessagesAsRead);
  const updateTyping = useMutation(api.shared.chat.updateTypingStatus);

  return {
    messages,
    typingIndicators,
    unreadCount,
    sendMessage,
    markAsRead,
    updateTyping
  };
}

export default useChat;
