// An AI assistant's messages (senderType "assistant"): their tool steps.
// The message's parts list each tool call ("tool-use", with its input)
// and what it returned ("tool-result", with a line for people), in the
// order they happened; toolSteps pairs them, one step per call.

import type { MessageDoc, MessagePart } from "./api.js";

/** One tool call of an assistant's answer and, once it returned, its result. */
export interface ToolStep {
  callId: string;
  /** The tool: search_faq, get_order_status, transfer_chat_to_agent, … */
  tool: string;
  /** The call's arguments (a JSON object as text). */
  input?: string;
  /** running until the result is there; error when the tool failed or refused. */
  state: "running" | "done" | "error";
  /** The result, for people (e.g. "Order order123456789: delivered"). */
  output?: string;
}

/** The tool steps of a message (none for a message that is not an assistant's), in call order. */
export function toolSteps(message: Pick<MessageDoc, "parts">): ToolStep[] {
  const parts: MessagePart[] = message.parts ?? [];
  const steps: ToolStep[] = [];
  const byCall = new Map<string, ToolStep>();
  for (const p of parts) {
    let step = byCall.get(p.callId);
    if (!step) {
      step = { callId: p.callId, tool: p.tool, state: "running" };
      byCall.set(p.callId, step);
      steps.push(step);
    }
    if (p.type === "tool-use") {
      if (p.input !== undefined) step.input = p.input;
    } else {
      step.state = p.error ? "error" : "done";
      if (p.output !== undefined) step.output = p.output;
    }
  }
  return steps;
}

/** Whether a message is an AI assistant's. */
export function isAssistantMessage(message: Pick<MessageDoc, "senderType">): boolean {
  return message.senderType === "assistant";
}
