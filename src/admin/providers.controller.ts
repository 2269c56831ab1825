import { Body, Controller, Delete, Get, HttpCode, Param, Put, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ProviderClientView } from '../providers/provider-client.view';
import { ProviderClientsService } from '../providers/provider-clients.service';
import { AdminGuard } from './admin.guard';
import { ProviderParamPipe } from './provider-param.pipe';
import { PutProviderClientDto } from './put-provider-client.dto';

@ApiTags('admin')
@ApiBearerAuth('admin')
@UseGuards(AdminGuard)
@Controller('admin/providers')
export class ProvidersController {
  constructor(private readonly providers: ProviderClientsService) {}

  @Get()
  @ApiOperation({ summary: 'The configured provider clients (never their secrets)' })
  @ApiOkResponse({ type: [ProviderClientView] })
  list() {
    return this.providers.list();
  }

  @Get(':provider')
  @ApiOkResponse({ type: ProviderClientView })
  get(@Param('provider', ProviderParamPipe) provider: string) {
    return this.providers.get(provider);
  }

  @Put(':provider')
  @ApiOperation({ summary: 'Create or replace the OAuth client used to refresh this provider’s tokens' })
  @ApiOkResponse({ type: ProviderClientView })
  put(@Param('provider', ProviderParamPipe) provider: string, @Body() body: PutProviderClientDto) {
    return this.providers.put(provider, body);
  }

  @Delete(':provider')
  @HttpCode(204)
  async remove(@Param('provider', ProviderParamPipe) provider: string) {
    await this.providers.delete(provider);
  }
}
