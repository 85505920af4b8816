interface SystemVoice {
  voice_id: string;
  name: string;
  trait: string;
  age: string;
  category: string;
  languages: string[];
  models: string[];
  features: {
    ssml: boolean;
    instruct: boolean;
    timestamp: boolean;
  };
}

const getSystemVoices = async (token: string, model?: string, category?: string): Promise => {
  const params = new URLSearchParams();
  if (model) params.append('model', model);
  if (category) params.append('category', category);
  const response = await fetch(`/api/audio/voice/system?${params}`, {
    headers: { 'Authorization': `Bearer ${token}` }
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};
