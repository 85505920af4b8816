interface ASRModel {
  model_id: string;
  model_name: string;
  description: string;
  call_type: 'sync' | 'async';
  features: string[];
}

const getASRModels = async (token: string): Promise => {
  const response = await fetch('/api/audio/asr/models', {
    headers: { 'Authorization': `Bearer ${token}` }
  });
  const data = await response.json();
  if (data.code !== 200) throw new Error(data.message);
  return data.data;
};
